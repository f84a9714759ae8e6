package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	sigsjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

// kind describes one apiVersion/kind the validator knows.
type kind struct {
	// new returns an empty typed object to decode into.
	new func() any
	// nameFn validates metadata.name as the API server does for the kind.
	nameFn apivalidation.ValidateNameFunc
}

// kinds are the apiVersion/kind pairs the chart renders. Anything else is
// an error: a new kind needs its typed object here (and its schema in
// schema/validate.mjs).
var kinds = map[string]kind{
	"v1 ConfigMap":                            {func() any { return &corev1.ConfigMap{} }, apivalidation.NameIsDNSSubdomain},
	"v1 Secret":                               {func() any { return &corev1.Secret{} }, apivalidation.NameIsDNSSubdomain},
	"v1 Service":                              {func() any { return &corev1.Service{} }, apivalidation.NameIsDNS1035Label},
	"v1 ServiceAccount":                       {func() any { return &corev1.ServiceAccount{} }, apivalidation.NameIsDNSSubdomain},
	"apps/v1 Deployment":                      {func() any { return &appsv1.Deployment{} }, apivalidation.NameIsDNSSubdomain},
	"policy/v1 PodDisruptionBudget":           {func() any { return &policyv1.PodDisruptionBudget{} }, apivalidation.NameIsDNSSubdomain},
	"networking.k8s.io/v1 NetworkPolicy":      {func() any { return &networkingv1.NetworkPolicy{} }, apivalidation.NameIsDNSSubdomain},
	"monitoring.coreos.com/v1 ServiceMonitor": {func() any { return &serviceMonitor{} }, apivalidation.NameIsDNSSubdomain},
}

// serviceMonitor is the part of the Prometheus Operator's ServiceMonitor
// (monitoring.coreos.com/v1) that the chart uses. Strict decoding against
// it rejects any other field: a field the chart starts to use must be added
// here. The full CRD schema is checked by the schema step.
type serviceMonitor struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		JobLabel          string               `json:"jobLabel,omitempty"`
		Selector          metav1.LabelSelector `json:"selector"`
		NamespaceSelector struct {
			Any        bool     `json:"any,omitempty"`
			MatchNames []string `json:"matchNames,omitempty"`
		} `json:"namespaceSelector"`
		Endpoints []struct {
			Port          string              `json:"port,omitempty"`
			TargetPort    *intstr.IntOrString `json:"targetPort,omitempty"`
			Path          string              `json:"path,omitempty"`
			Scheme        string              `json:"scheme,omitempty"`
			Interval      string              `json:"interval,omitempty"`
			ScrapeTimeout string              `json:"scrapeTimeout,omitempty"`
			HonorLabels   bool                `json:"honorLabels,omitempty"`
		} `json:"endpoints"`
	} `json:"spec"`
}

// object is one decoded document.
type object struct {
	source string // file#index, for messages
	gvk    string // "apps/v1 Deployment"
	meta   *metav1.ObjectMeta
	obj    any
	json   map[string]any // the document as JSON, for the schema step
}

// String names the object in messages: "file#2 Deployment default/x".
func (o *object) String() string {
	k := o.gvk[strings.LastIndexByte(o.gvk, ' ')+1:]
	return fmt.Sprintf("%s %s %s/%s", o.source, k, o.meta.Namespace, o.meta.Name)
}

// run is main without the process: it returns the exit code.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("validate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	jsonOut := fs.String("json", "", "also write the documents as a JSON array to this file (input of schema/validate.mjs)")
	cmDir := fs.String("configmaps", "", "also write each ConfigMap data entry to this directory as NAMESPACE_NAME_KEY (so that secretbrokerd -check-config can read the rendered configuration)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() == 0 {
		fmt.Fprintln(stderr, "validate: name at least one manifest file (- for standard input)")
		return 2
	}
	var objs []*object
	var problems []string
	for _, name := range fs.Args() {
		data, err := readInput(name, stdin)
		if err != nil {
			fmt.Fprintf(stderr, "validate: %v\n", err)
			return 1
		}
		o, p := decodeAll(name, data)
		objs = append(objs, o...)
		problems = append(problems, p...)
	}
	problems = append(problems, checkSet(objs)...)
	if *jsonOut != "" {
		if err := writeJSON(*jsonOut, objs); err != nil {
			fmt.Fprintf(stderr, "validate: %v\n", err)
			return 1
		}
	}
	if *cmDir != "" {
		if err := writeConfigMaps(*cmDir, objs); err != nil {
			fmt.Fprintf(stderr, "validate: %v\n", err)
			return 1
		}
	}
	for _, p := range problems {
		fmt.Fprintln(stderr, p)
	}
	if len(problems) > 0 {
		fmt.Fprintf(stderr, "validate: %d problem(s) in %d document(s)\n", len(problems), len(objs))
		return 1
	}
	counts := map[string]int{}
	for _, o := range objs {
		counts[o.gvk[strings.LastIndexByte(o.gvk, ' ')+1:]]++
	}
	var parts []string
	for k, n := range counts {
		parts = append(parts, fmt.Sprintf("%d %s", n, k))
	}
	sort.Strings(parts)
	fmt.Fprintf(stdout, "validate: %d documents valid (%s)\n", len(objs), strings.Join(parts, ", "))
	return 0
}

// decodeAll splits data into YAML documents and decodes each non-empty one.
func decodeAll(name string, data []byte) ([]*object, []string) {
	var objs []*object
	var problems []string
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	for i := 0; ; i++ {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		src := fmt.Sprintf("%s#%d", name, i)
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", src, err))
			break
		}
		o, p := decode(src, doc)
		problems = append(problems, p...)
		if o != nil {
			objs = append(objs, o)
		}
	}
	return objs, problems
}

// decode decodes one document strictly into its typed object and checks
// its metadata. It returns nil for a document without content (comments
// only).
func decode(src string, doc []byte) (*object, []string) {
	js, err := yaml.YAMLToJSONStrict(doc)
	if err != nil {
		return nil, []string{fmt.Sprintf("%s: not valid YAML: %v", src, err)}
	}
	if t := bytes.TrimSpace(js); len(t) == 0 || bytes.Equal(t, []byte("null")) {
		return nil, nil
	}
	var tm metav1.TypeMeta
	if err := json.Unmarshal(js, &tm); err != nil {
		return nil, []string{fmt.Sprintf("%s: not an object: %v", src, err)}
	}
	gvk := tm.APIVersion + " " + tm.Kind
	k, ok := kinds[gvk]
	if !ok {
		return nil, []string{fmt.Sprintf("%s: apiVersion %q kind %q is not one this validator knows (add its typed object to kinds in deploy/validate)", src, tm.APIVersion, tm.Kind)}
	}
	obj := k.new()
	var problems []string
	strictErrs, err := sigsjson.UnmarshalStrict(js, obj)
	if err != nil {
		return nil, []string{fmt.Sprintf("%s: %s: %v", src, gvk, err)}
	}
	for _, e := range strictErrs {
		problems = append(problems, fmt.Sprintf("%s: %s: %v", src, gvk, e))
	}
	var generic map[string]any
	if err := json.Unmarshal(js, &generic); err != nil {
		return nil, []string{fmt.Sprintf("%s: %v", src, err)}
	}
	o := &object{source: src, gvk: gvk, meta: objectMeta(obj), obj: obj, json: generic}
	for _, e := range apivalidation.ValidateObjectMeta(o.meta, true, k.nameFn, field.NewPath("metadata")) {
		problems = append(problems, fmt.Sprintf("%s: %v", o, e))
	}
	return o, problems
}

// objectMeta returns the ObjectMeta of a typed object.
func objectMeta(obj any) *metav1.ObjectMeta {
	if a, ok := obj.(metav1.ObjectMetaAccessor); ok {
		if m, ok := a.GetObjectMeta().(*metav1.ObjectMeta); ok {
			return m
		}
	}
	if sm, ok := obj.(*serviceMonitor); ok {
		return &sm.ObjectMeta
	}
	return &metav1.ObjectMeta{}
}

// writeJSON writes the documents as a JSON array of
// {"source", "doc"} for the schema step.
func writeJSON(path string, objs []*object) error {
	type entry struct {
		Source string         `json:"source"`
		Doc    map[string]any `json:"doc"`
	}
	out := make([]entry, len(objs))
	for i, o := range objs {
		out[i] = entry{Source: o.String(), Doc: o.json}
	}
	b, err := json.Marshal(out)
	if err != nil {
		return fmt.Errorf("encoding the documents: %w", err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}

// writeConfigMaps writes the data entries of every ConfigMap into dir, one
// file each, named NAMESPACE_NAME_KEY.
func writeConfigMaps(dir string, objs []*object) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("creating %s: %w", dir, err)
	}
	for _, o := range objs {
		cm, ok := o.obj.(*corev1.ConfigMap)
		if !ok {
			continue
		}
		for k, v := range cm.Data {
			name := filepath.Join(dir, cm.Namespace+"_"+cm.Name+"_"+k)
			if err := os.WriteFile(name, []byte(v), 0o644); err != nil {
				return fmt.Errorf("writing %s: %w", name, err)
			}
		}
	}
	return nil
}

// selectorOf returns the selector of sel, and a problem when it is invalid.
func selectorOf(o *object, path string, sel *metav1.LabelSelector) (labels.Selector, []string) {
	if errs := metav1validation.ValidateLabelSelector(sel, metav1validation.LabelSelectorValidationOptions{}, field.NewPath(path)); len(errs) > 0 {
		var p []string
		for _, e := range errs {
			p = append(p, fmt.Sprintf("%s: %v", o, e))
		}
		return nil, p
	}
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		return nil, []string{fmt.Sprintf("%s: %s: %v", o, path, err)}
	}
	return s, nil
}

// checkSet checks each object on its own and against the others of the
// same render.
func checkSet(objs []*object) []string {
	var problems []string
	var deploys []*appsv1.Deployment
	var services []*object
	for _, o := range objs {
		switch v := o.obj.(type) {
		case *appsv1.Deployment:
			deploys = append(deploys, v)
		case *corev1.Service:
			services = append(services, o)
		}
	}
	// pods returns the pod templates (with their namespace) that sel
	// selects in namespace ns.
	pods := func(ns string, sel labels.Selector) []*corev1.PodTemplateSpec {
		var out []*corev1.PodTemplateSpec
		for _, d := range deploys {
			if d.Namespace == ns && sel.Matches(labels.Set(d.Spec.Template.Labels)) {
				out = append(out, &d.Spec.Template)
			}
		}
		return out
	}
	for _, o := range objs {
		switch v := o.obj.(type) {
		case *corev1.ConfigMap:
			for k := range v.Data {
				for _, e := range validation.IsConfigMapKey(k) {
					problems = append(problems, fmt.Sprintf("%s: data key %q: %s", o, k, e))
				}
			}
		case *appsv1.Deployment:
			problems = append(problems, checkDeployment(o, v)...)
		case *corev1.Service:
			if len(v.Spec.Selector) == 0 {
				problems = append(problems, fmt.Sprintf("%s: spec.selector is empty", o))
				break
			}
			selected := pods(v.Namespace, labels.SelectorFromSet(v.Spec.Selector))
			if len(selected) == 0 {
				problems = append(problems, fmt.Sprintf("%s: spec.selector %v selects no pod template of this render", o, v.Spec.Selector))
			}
			names := map[string]bool{}
			for i, p := range v.Spec.Ports {
				if names[p.Name] {
					problems = append(problems, fmt.Sprintf("%s: spec.ports[%d].name %q repeats", o, i, p.Name))
				}
				names[p.Name] = true
				for _, e := range validation.IsValidPortNum(int(p.Port)) {
					problems = append(problems, fmt.Sprintf("%s: spec.ports[%d].port: %s", o, i, e))
				}
				problems = append(problems, checkPortRef(o, fmt.Sprintf("spec.ports[%d].targetPort", i), p.TargetPort, selected)...)
			}
		case *policyv1.PodDisruptionBudget:
			sel, p := selectorOf(o, "spec.selector", v.Spec.Selector)
			problems = append(problems, p...)
			if sel != nil && len(pods(v.Namespace, sel)) == 0 {
				problems = append(problems, fmt.Sprintf("%s: spec.selector selects no pod template of this render", o))
			}
			if v.Spec.MinAvailable != nil && v.Spec.MaxUnavailable != nil {
				problems = append(problems, fmt.Sprintf("%s: minAvailable and maxUnavailable are exclusive", o))
			}
		case *networkingv1.NetworkPolicy:
			sel, p := selectorOf(o, "spec.podSelector", &v.Spec.PodSelector)
			problems = append(problems, p...)
			if sel == nil {
				break
			}
			selected := pods(v.Namespace, sel)
			if len(selected) == 0 {
				problems = append(problems, fmt.Sprintf("%s: spec.podSelector selects no pod template of this render", o))
			}
			for i, r := range v.Spec.Ingress {
				for j, port := range r.Ports {
					if port.Port != nil {
						problems = append(problems, checkPortRef(o, fmt.Sprintf("spec.ingress[%d].ports[%d].port", i, j), *port.Port, selected)...)
					}
				}
				problems = append(problems, checkPeers(o, fmt.Sprintf("spec.ingress[%d].from", i), r.From)...)
			}
			for i, r := range v.Spec.Egress {
				problems = append(problems, checkPeers(o, fmt.Sprintf("spec.egress[%d].to", i), r.To)...)
			}
		case *serviceMonitor:
			problems = append(problems, checkServiceMonitor(o, v, services)...)
		}
	}
	return problems
}

// checkPeers checks the selectors and CIDRs of NetworkPolicy peers.
func checkPeers(o *object, path string, peers []networkingv1.NetworkPolicyPeer) []string {
	var problems []string
	for i, p := range peers {
		at := fmt.Sprintf("%s[%d]", path, i)
		if p.PodSelector != nil {
			_, pr := selectorOf(o, at+".podSelector", p.PodSelector)
			problems = append(problems, pr...)
		}
		if p.NamespaceSelector != nil {
			_, pr := selectorOf(o, at+".namespaceSelector", p.NamespaceSelector)
			problems = append(problems, pr...)
		}
		if p.IPBlock != nil {
			if p.PodSelector != nil || p.NamespaceSelector != nil {
				problems = append(problems, fmt.Sprintf("%s: %s: ipBlock excludes the selectors", o, at))
			}
			for _, e := range validation.IsValidCIDR(field.NewPath(at, "ipBlock", "cidr"), p.IPBlock.CIDR) {
				problems = append(problems, fmt.Sprintf("%s: %v", o, e))
			}
			for j, c := range p.IPBlock.Except {
				for _, e := range validation.IsValidCIDR(field.NewPath(at, "ipBlock", "except").Index(j), c) {
					problems = append(problems, fmt.Sprintf("%s: %v", o, e))
				}
			}
		}
	}
	return problems
}

// checkPortRef checks that a port given by number is in range and one given
// by name is a container port of every selected pod template.
func checkPortRef(o *object, path string, port intstr.IntOrString, selected []*corev1.PodTemplateSpec) []string {
	if port.Type == intstr.Int {
		if port.IntVal == 0 {
			return nil // Service targetPort defaults to port
		}
		var p []string
		for _, e := range validation.IsValidPortNum(int(port.IntVal)) {
			p = append(p, fmt.Sprintf("%s: %s: %s", o, path, e))
		}
		return p
	}
	for _, t := range selected {
		if !hasPortName(&t.Spec, port.StrVal) {
			return []string{fmt.Sprintf("%s: %s names port %q, which the selected pods do not declare", o, path, port.StrVal)}
		}
	}
	return nil
}

// hasPortName reports whether a container of spec declares the named port.
func hasPortName(spec *corev1.PodSpec, name string) bool {
	for _, c := range spec.Containers {
		for _, p := range c.Ports {
			if p.Name == name {
				return true
			}
		}
	}
	return false
}

// checkDeployment checks a Deployment: its selector selects its template,
// names and ports are well formed and consistent, and the pod runs with
// the hardened security context the chart promises.
func checkDeployment(o *object, d *appsv1.Deployment) []string {
	var problems []string
	add := func(format string, args ...any) {
		problems = append(problems, o.String()+": "+fmt.Sprintf(format, args...))
	}
	sel, p := selectorOf(o, "spec.selector", d.Spec.Selector)
	problems = append(problems, p...)
	if sel != nil && !sel.Matches(labels.Set(d.Spec.Template.Labels)) {
		add("spec.selector does not select spec.template.metadata.labels")
	}
	for _, e := range metav1validation.ValidateLabels(d.Spec.Template.Labels, field.NewPath("spec.template.metadata.labels")) {
		add("%v", e)
	}
	pod := &d.Spec.Template.Spec
	if pod.HostNetwork || pod.HostPID || pod.HostIPC {
		add("the pod shares the host's network, PID or IPC namespace")
	}
	volumes := map[string]bool{}
	for i, v := range pod.Volumes {
		for _, e := range validation.IsDNS1123Label(v.Name) {
			add("spec.template.spec.volumes[%d].name %q: %s", i, v.Name, e)
		}
		if volumes[v.Name] {
			add("spec.template.spec.volumes[%d].name %q repeats", i, v.Name)
		}
		volumes[v.Name] = true
	}
	psc := pod.SecurityContext
	if psc == nil {
		psc = &corev1.PodSecurityContext{}
	}
	if len(pod.Containers) == 0 {
		add("spec.template.spec.containers is empty")
	}
	for i, c := range pod.Containers {
		at := fmt.Sprintf("spec.template.spec.containers[%d]", i)
		for _, e := range validation.IsDNS1123Label(c.Name) {
			add("%s.name %q: %s", at, c.Name, e)
		}
		if c.Image == "" {
			add("%s.image is empty", at)
		}
		ports := map[string]bool{}
		for j, p := range c.Ports {
			for _, e := range validation.IsValidPortNum(int(p.ContainerPort)) {
				add("%s.ports[%d].containerPort: %s", at, j, e)
			}
			if p.Name != "" {
				for _, e := range validation.IsValidPortName(p.Name) {
					add("%s.ports[%d].name %q: %s", at, j, p.Name, e)
				}
				if ports[p.Name] {
					add("%s.ports[%d].name %q repeats", at, j, p.Name)
				}
				ports[p.Name] = true
			}
		}
		for name, pr := range map[string]*corev1.Probe{"livenessProbe": c.LivenessProbe, "readinessProbe": c.ReadinessProbe, "startupProbe": c.StartupProbe} {
			if pr == nil {
				add("%s.%s is missing", at, name)
				continue
			}
			if pr.HTTPGet != nil && pr.HTTPGet.Port.Type == intstr.String && !ports[pr.HTTPGet.Port.StrVal] {
				add("%s.%s.httpGet.port names %q, which the container does not declare", at, name, pr.HTTPGet.Port.StrVal)
			}
		}
		for j, m := range c.VolumeMounts {
			if !volumes[m.Name] {
				add("%s.volumeMounts[%d] mounts volume %q, which the pod does not declare", at, j, m.Name)
			}
			if !strings.HasPrefix(m.MountPath, "/") {
				add("%s.volumeMounts[%d].mountPath %q is not absolute", at, j, m.MountPath)
			}
		}
		problems = append(problems, checkHardened(o, at, psc, c.SecurityContext)...)
	}
	return problems
}

// checkHardened checks the security context the chart promises: non-root,
// read-only root file system, no privilege escalation, every capability
// dropped, the runtime's default seccomp profile.
func checkHardened(o *object, at string, psc *corev1.PodSecurityContext, sc *corev1.SecurityContext) []string {
	var problems []string
	add := func(format string, args ...any) {
		problems = append(problems, o.String()+": "+at+".securityContext: "+fmt.Sprintf(format, args...))
	}
	if sc == nil {
		sc = &corev1.SecurityContext{}
	}
	isTrue := func(b *bool) bool { return b != nil && *b }
	if !isTrue(sc.RunAsNonRoot) && !isTrue(psc.RunAsNonRoot) {
		add("runAsNonRoot is not true (here or in the pod)")
	}
	if uid := sc.RunAsUser; uid != nil && *uid == 0 || sc.RunAsUser == nil && psc.RunAsUser != nil && *psc.RunAsUser == 0 {
		add("runs as uid 0")
	}
	if !isTrue(sc.ReadOnlyRootFilesystem) {
		add("readOnlyRootFilesystem is not true")
	}
	if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		add("allowPrivilegeEscalation is not false")
	}
	if isTrue(sc.Privileged) {
		add("privileged")
	}
	dropAll := false
	if sc.Capabilities != nil {
		for _, c := range sc.Capabilities.Drop {
			dropAll = dropAll || c == "ALL"
		}
		if len(sc.Capabilities.Add) > 0 {
			add("adds capabilities %v", sc.Capabilities.Add)
		}
	}
	if !dropAll {
		add("capabilities.drop does not contain ALL")
	}
	seccomp := sc.SeccompProfile
	if seccomp == nil {
		seccomp = psc.SeccompProfile
	}
	if seccomp == nil || seccomp.Type != corev1.SeccompProfileTypeRuntimeDefault {
		add("seccompProfile is not RuntimeDefault (here or in the pod)")
	}
	return problems
}

// checkServiceMonitor checks that the ServiceMonitor selects a Service of
// the render in a namespace it watches, and scrapes a port that Service
// names.
func checkServiceMonitor(o *object, sm *serviceMonitor, services []*object) []string {
	var problems []string
	sel, p := selectorOf(o, "spec.selector", &sm.Spec.Selector)
	problems = append(problems, p...)
	if sel == nil {
		return problems
	}
	if len(sm.Spec.Endpoints) == 0 {
		problems = append(problems, fmt.Sprintf("%s: spec.endpoints is empty", o))
	}
	watched := func(ns string) bool {
		if sm.Spec.NamespaceSelector.Any {
			return true
		}
		if len(sm.Spec.NamespaceSelector.MatchNames) == 0 {
			return ns == sm.Namespace
		}
		for _, n := range sm.Spec.NamespaceSelector.MatchNames {
			if n == ns {
				return true
			}
		}
		return false
	}
	var matched []*corev1.Service
	for _, so := range services {
		s := so.obj.(*corev1.Service)
		if watched(s.Namespace) && sel.Matches(labels.Set(s.Labels)) {
			matched = append(matched, s)
		}
	}
	if len(matched) == 0 {
		return append(problems, fmt.Sprintf("%s: selects no Service of this render in the namespaces it watches", o))
	}
	for i, ep := range sm.Spec.Endpoints {
		if ep.Port == "" {
			continue
		}
		found := false
		for _, s := range matched {
			for _, sp := range s.Spec.Ports {
				found = found || sp.Name == ep.Port
			}
		}
		if !found {
			problems = append(problems, fmt.Sprintf("%s: spec.endpoints[%d].port %q is not a port name of the selected Services", o, i, ep.Port))
		}
	}
	return problems
}
