{{/* Names and labels. */}}
{{- define "secretbroker.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "secretbroker.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "secretbroker.selectorLabels" -}}
app.kubernetes.io/name: {{ include "secretbroker.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "secretbroker.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "secretbroker.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "secretbroker.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "secretbroker.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "secretbroker.image" -}}
{{- $tag := default .Chart.AppVersion .Values.image.tag -}}
{{- if .Values.image.digest -}}
{{- printf "%s:%s@%s" .Values.image.repository $tag .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository $tag -}}
{{- end -}}
{{- end -}}

{{- define "secretbroker.tlsSecretName" -}}
{{- default (printf "%s-tls" (include "secretbroker.fullname" .)) .Values.tls.secretName -}}
{{- end -}}

{{/*
secretbroker.config renders /etc/secretbroker/secretbroker.yaml: the user's
`config` with the keys the pod spec depends on set by the chart. A user
value for one of those keys is an error rather than silently replaced.
*/}}
{{- define "secretbroker.config" -}}
{{- $cfg := deepCopy (.Values.config | default dict) -}}
{{- $server := get $cfg "server" | default dict -}}
{{- $admin := get $cfg "admin" | default dict -}}
{{- range $key := list "listen" "tls" "data_dir" "reload_on_change" -}}
{{- if hasKey $server $key -}}
{{- fail (printf "config.server.%s is set by the chart (from service.grpcPort, tls.*, the data volume and reloadOnConfigChange): remove it from your values" $key) -}}
{{- end -}}
{{- end -}}
{{- if hasKey $admin "listen" -}}
{{- fail "config.admin.listen is set by the chart (0.0.0.0:service.adminPort, which the probes use): remove it from your values" -}}
{{- end -}}
{{- $_ := set $server "listen" (printf "0.0.0.0:%d" (int .Values.service.grpcPort)) -}}
{{- /* A directory the daemon creates (0700) inside the volume: it refuses a
data directory that group or others can write, as an emptyDir's root is. */ -}}
{{- $_ := set $server "data_dir" "/var/lib/secretbroker/data" -}}
{{- $_ := set $server "reload_on_change" .Values.reloadOnConfigChange -}}
{{- if .Values.tls.enabled -}}
{{- $tls := dict "cert_file" "/etc/secretbroker/tls/tls.crt" "key_file" "/etc/secretbroker/tls/tls.key" -}}
{{- if .Values.tls.clientCA.enabled -}}
{{- $_ := set $tls "client_ca_file" "/etc/secretbroker/tls/client-ca.crt" -}}
{{- end -}}
{{- $_ := set $server "tls" $tls -}}
{{- else if not (get $server "insecure_plaintext_behind_tls_terminating_proxy") -}}
{{- fail "tls.enabled is false: the daemon listens on 0.0.0.0 in the pod and accepts plaintext there only with config.server.insecure_plaintext_behind_tls_terminating_proxy: true (a mesh sidecar terminating TLS); set that, or enable tls" -}}
{{- end -}}
{{- $_ := set $admin "listen" (printf "0.0.0.0:%d" (int .Values.service.adminPort)) -}}
{{- $_ := set $cfg "server" $server -}}
{{- $_ := set $cfg "admin" $admin -}}
{{- if gt (int .Values.replicaCount) 1 -}}
{{- range $name, $p := (get $cfg "providers" | default dict) -}}
{{- if and (kindIs "map" $p) (hasKey $p "embedded") -}}
{{- fail (printf "config.providers.%s is an embedded store: it is a file in one pod's data directory, so each of the %d replicas would have its own, empty store. Use a vault provider (hashicorp, aws, azure, cyberark), or replicaCount: 1" $name (int $.Values.replicaCount)) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- toYaml $cfg -}}
{{- end -}}
