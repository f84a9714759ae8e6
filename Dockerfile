# syntax=docker/dockerfile:1
# secretbrokerd in a minimal image: static binaries (no cgo) built with
# -trimpath, on distroless/static, running as the unprivileged user
# nonroot (uid and gid 65532). No shell, no package manager.
#
#   docker build -t secretbroker .
#   docker buildx build --platform linux/amd64,linux/arm64 -t REGISTRY/secretbroker .
#
#   docker run -d --name secretbroker \
#     -p 7787:7787 -p 127.0.0.1:7788:7788 \
#     -v ./tls:/etc/secretbroker/tls:ro \
#     -v sbdata:/var/lib/secretbroker \
#     secretbroker
#
# Listening. The daemon listens on 0.0.0.0:7787 in the container (-listen
# below), and it accepts plaintext only on loopback: the configuration at
# /etc/secretbroker/secretbroker.yaml must have server.tls (cert_file,
# key_file; client_ca_file for mutual TLS), or
# server.insecure_plaintext_behind_tls_terminating_proxy: true when a proxy
# in front terminates TLS. The built-in file (deploy/docker/secretbroker.yaml)
# expects /etc/secretbroker/tls/tls.crt and tls.key, so the container does
# not start until they are mounted. The admin listener (7788: /metrics,
# /healthz, /readyz, no secrets) is on 0.0.0.0 in that file; publish it on
# loopback or to your monitoring only.
#
# Volumes and ownership.
#   /etc/secretbroker      configuration and TLS files: read-only for the
#                          daemon (owned by root here; mount it :ro). Files
#                          must be readable by uid 65532, key files
#                          preferably 0400/0440 with that owner or group.
#   /var/lib/secretbroker  data: the embedded store, its key, admin.token,
#                          the audit log. Owned by 65532:65532, mode 0700:
#                          writable by the daemon, not by group or world.
#                          The daemon refuses a data directory that group
#                          or others can write, or that another uid owns.
#                          A new named volume copies this ownership and
#                          mode from the image; a bind mount does not:
#                          `install -d -o 65532 -g 65532 -m 0700 DIR` on the
#                          host first.
# --read-only should work: the daemon writes its files only under
# /var/lib/secretbroker (not tried here: no Docker engine on the build host).
#
# Health. HEALTHCHECK runs `secretbrokerd -probe URL` (an HTTP GET that
# exits 0 on 200 OK and 1 otherwise; distroless has no shell or curl)
# against the admin listener's /readyz. Kubernetes does not use it: the
# Helm chart (deploy/helm/secretbroker) sets its own httpGet probes on the
# admin port.

FROM --platform=$BUILDPLATFORM golang:1.26.8-bookworm AS build
# Set by BuildKit for each --platform; empty (the build host's) otherwise.
ARG TARGETOS TARGETARCH
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ENV CGO_ENABLED=0 GOFLAGS=-trimpath
RUN GOOS=$TARGETOS GOARCH=$TARGETARCH go build -ldflags="-s -w" -o /out/secretbrokerd ./cmd/secretbrokerd \
 && GOOS=$TARGETOS GOARCH=$TARGETARCH go build -ldflags="-s -w" -o /out/secretbroker ./cmd/secretbroker \
 && install -d -m 0755 /out/config \
 && install -m 0644 deploy/docker/secretbroker.yaml /out/config/secretbroker.yaml \
 && install -d -m 0700 /out/data

# distroless/static has CA certificates, tzdata and the nonroot user.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/secretbrokerd /out/secretbroker /usr/local/bin/
# Configuration: root-owned, world-readable, not writable by the daemon.
COPY --from=build --chown=0:0 /out/config /etc/secretbroker
# Data: the daemon's own, 0700 (COPY keeps the mode set in the build stage).
COPY --from=build --chown=65532:65532 /out/data /var/lib/secretbroker
USER 65532:65532
VOLUME ["/var/lib/secretbroker"]
# 7787: gRPC API (TLS). 7788: admin HTTP (/metrics, /healthz, /readyz).
EXPOSE 7787 7788
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["/usr/local/bin/secretbrokerd", "-probe", "http://127.0.0.1:7788/readyz"]
# The configuration and data paths are fixed by the image; the listen
# address is the default argument, so `docker run IMAGE -listen ...` or
# `docker run IMAGE -check-config` work as expected.
ENTRYPOINT ["/usr/local/bin/secretbrokerd", \
  "-config", "/etc/secretbroker/secretbroker.yaml", \
  "-data-dir", "/var/lib/secretbroker"]
CMD ["-listen", "0.0.0.0:7787"]
