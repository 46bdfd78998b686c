package deploy

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

// kustomization is the part of kustomize's Kustomization type this base uses. Decoding is
// strict, so a field added to kustomization.yaml must be added here too (kustomize's own types
// are not a dependency of the project).
type kustomization struct {
	metav1.TypeMeta `json:",inline"`
	Namespace       string           `json:"namespace,omitempty"`
	Resources       []string         `json:"resources,omitempty"`
	Images          []kustomizeImage `json:"images,omitempty"`
}

type kustomizeImage struct {
	Name    string `json:"name"`
	NewName string `json:"newName,omitempty"`
	NewTag  string `json:"newTag,omitempty"`
	Digest  string `json:"digest,omitempty"`
}

// kinds maps each kind the manifests may hold to its apiVersion and Go type. Any other kind
// fails the test: add it here, with its typed object, when the deployment needs it.
var kinds = map[string]struct {
	apiVersion string
	new        func() any
}{
	"Namespace":     {"v1", func() any { return &corev1.Namespace{} }},
	"ConfigMap":     {"v1", func() any { return &corev1.ConfigMap{} }},
	"Secret":        {"v1", func() any { return &corev1.Secret{} }},
	"Job":           {"batch/v1", func() any { return &batchv1.Job{} }},
	"CronJob":       {"batch/v1", func() any { return &batchv1.CronJob{} }},
	"Kustomization": {"kustomize.config.k8s.io/v1beta1", func() any { return &kustomization{} }},
}

// decodeManifest decodes one YAML document strictly into the typed object of its kind: an
// unknown kind, a wrong apiVersion, an unknown or duplicated field, or a value of the wrong type
// (a bad quantity, a string where a number belongs) is an error.
func decodeManifest(doc []byte) (any, error) {
	var tm metav1.TypeMeta
	if err := yaml.Unmarshal(doc, &tm); err != nil {
		return nil, fmt.Errorf("not a YAML object: %w", err)
	}
	k, ok := kinds[tm.Kind]
	if !ok {
		return nil, fmt.Errorf("unknown kind %q (apiVersion %q)", tm.Kind, tm.APIVersion)
	}
	if tm.APIVersion != k.apiVersion {
		return nil, fmt.Errorf("kind %s has apiVersion %q, want %q", tm.Kind, tm.APIVersion, k.apiVersion)
	}
	obj := k.new()
	if err := yaml.UnmarshalStrict(doc, obj); err != nil {
		return nil, fmt.Errorf("%s: %w", tm.Kind, err)
	}
	return obj, nil
}

var docSeparator = regexp.MustCompile(`(?m)^---[ \t]*$`)

// splitDocuments splits a multi-document YAML file, dropping documents that hold nothing but
// comments and blank lines.
func splitDocuments(data []byte) [][]byte {
	var docs [][]byte
	for _, d := range docSeparator.Split(string(data), -1) {
		var v any
		if err := yaml.Unmarshal([]byte(d), &v); err == nil && v == nil {
			continue
		}
		docs = append(docs, []byte(d))
	}
	return docs
}

// manifest is one decoded document.
type manifest struct {
	file string // base name under k8sDir
	obj  any
}

// manifests are every document of every YAML file under k8sDir, decoded strictly.
type manifests struct {
	all   []manifest
	files []string // base names of all YAML files
}

func loadManifests(t *testing.T) *manifests {
	t.Helper()
	m := &manifests{}
	err := filepath.WalkDir(k8sDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if path != k8sDir {
				t.Errorf("%s: subdirectories of %s are not expected (kustomization.yaml would not see them)", path, k8sDir)
			}
			return nil
		}
		if ext := filepath.Ext(path); ext != ".yaml" && ext != ".yml" {
			t.Errorf("%s: not a YAML file; only manifests belong in %s", path, k8sDir)
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		name := filepath.Base(path)
		m.files = append(m.files, name)
		docs := splitDocuments(data)
		if len(docs) == 0 {
			t.Errorf("%s: no YAML document", path)
		}
		for i, doc := range docs {
			obj, err := decodeManifest(doc)
			if err != nil {
				t.Errorf("%s (document %d): %v", path, i+1, err)
				continue
			}
			m.all = append(m.all, manifest{file: name, obj: obj})
		}
		return nil
	})
	if err != nil {
		t.Fatalf("reading %s: %v", k8sDir, err)
	}
	if len(m.files) == 0 {
		t.Fatalf("no manifests under %s", k8sDir)
	}
	return m
}

// one returns the only object of type T in file, failing the test otherwise.
func one[T any](t *testing.T, m *manifests, file string) T {
	t.Helper()
	var found []T
	for _, x := range m.all {
		if x.file != file {
			continue
		}
		if o, ok := x.obj.(T); ok {
			found = append(found, o)
		}
	}
	if len(found) != 1 {
		var zero T
		t.Fatalf("%s: want exactly one %T, found %d", file, zero, len(found))
	}
	return found[0]
}

func TestManifestsDecodeStrictly(t *testing.T) {
	m := loadManifests(t)
	for _, want := range []string{
		"kustomization.yaml", "namespace.yaml", "configmap.yaml", "secret.example.yaml",
		"migrate-job.yaml", "cronjob.yaml", "backfill-job.example.yaml",
	} {
		if !slices.Contains(m.files, want) {
			t.Errorf("%s/%s is missing", k8sDir, want)
		}
	}
}

func TestDecodeManifestRejects(t *testing.T) {
	for name, doc := range map[string]string{
		"unknown kind":        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\n",
		"wrong apiVersion":    "apiVersion: batch/v1beta1\nkind: CronJob\nmetadata: {name: x}\n",
		"unknown field":       "apiVersion: batch/v1\nkind: CronJob\nmetadata: {name: x}\nspec:\n  concurrencyPolicyy: Forbid\n",
		"nested unknown":      "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x, labelz: {}}\n",
		"duplicate field":     "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata: {A: a}\ndata: {B: b}\n",
		"bad quantity":        "apiVersion: batch/v1\nkind: Job\nmetadata: {name: x}\nspec:\n  template:\n    spec:\n      containers:\n        - name: c\n          resources: {limits: {memory: lots}}\n",
		"wrong type":          "apiVersion: batch/v1\nkind: Job\nmetadata: {name: x}\nspec:\n  backoffLimit: two\n",
		"kustomize unknown":   "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresourcez: [a.yaml]\n",
		"not an object":       "- a\n- b\n",
		"missing kind at all": "metadata: {name: x}\n",
	} {
		if _, err := decodeManifest([]byte(doc)); err == nil {
			t.Errorf("%s: decoded without error", name)
		}
	}
	if _, err := decodeManifest([]byte("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata: {A: a}\n")); err != nil {
		t.Errorf("a valid ConfigMap: %v", err)
	}
}

func TestKustomizationListsEveryManifest(t *testing.T) {
	m := loadManifests(t)
	k := one[*kustomization](t, m, "kustomization.yaml")

	var want []string
	for _, f := range m.files {
		if f == "kustomization.yaml" || strings.HasSuffix(f, ".example.yaml") {
			continue
		}
		want = append(want, f)
	}
	got := slices.Clone(k.Resources)
	sort.Strings(want)
	sort.Strings(got)
	if !slices.Equal(got, want) {
		t.Errorf("kustomization.yaml resources = %v, want every manifest file but the templates: %v", got, want)
	}
	for _, r := range k.Resources {
		if strings.HasSuffix(r, ".example.yaml") {
			t.Errorf("kustomization.yaml lists the template %s: templates are applied by hand", r)
		}
	}
	if k.Namespace != namespace {
		t.Errorf("kustomization.yaml namespace = %q, want %q", k.Namespace, namespace)
	}
	var img *kustomizeImage
	for i := range k.Images {
		if k.Images[i].Name == imageName {
			img = &k.Images[i]
		}
	}
	if img == nil {
		t.Fatalf("kustomization.yaml images has no entry named %s", imageName)
	}
	if img.NewTag == "" && img.Digest == "" {
		t.Errorf("kustomization.yaml image %s sets neither newTag nor digest", imageName)
	}
}

func TestObjectsAreInTheNamespace(t *testing.T) {
	m := loadManifests(t)
	ns := one[*corev1.Namespace](t, m, "namespace.yaml")
	if ns.Name != namespace {
		t.Errorf("Namespace name = %q, want %q", ns.Name, namespace)
	}
	for _, x := range m.all {
		var meta *metav1.ObjectMeta
		switch o := x.obj.(type) {
		case *corev1.ConfigMap:
			meta = &o.ObjectMeta
		case *corev1.Secret:
			meta = &o.ObjectMeta
		case *batchv1.Job:
			meta = &o.ObjectMeta
		case *batchv1.CronJob:
			meta = &o.ObjectMeta
		default:
			continue
		}
		// The templates are applied with kubectl apply -f, without kustomize: they must carry it.
		if meta.Namespace != namespace {
			t.Errorf("%s: %s has namespace %q, want %q", x.file, meta.Name, meta.Namespace, namespace)
		}
		if meta.Name == "" {
			t.Errorf("%s: an object has no name", x.file)
		}
	}
}

func TestConfigMapHoldsContractSettings(t *testing.T) {
	m := loadManifests(t)
	cm := one[*corev1.ConfigMap](t, m, "configmap.yaml")
	if cm.Name != configMapName {
		t.Errorf("ConfigMap name = %q, want %q", cm.Name, configMapName)
	}
	if len(cm.BinaryData) != 0 {
		t.Errorf("ConfigMap has binaryData")
	}
	for key, value := range cm.Data {
		def, ok := contractSettings[key]
		switch {
		case slices.Contains(contractSecrets, key):
			t.Errorf("ConfigMap key %s is a credential: it belongs in the Secret %s", key, secretName)
		case !ok:
			t.Errorf("ConfigMap key %s is not a setting of docs/reference.md", key)
		case value == "":
			// Set to "" is not unset: leave such settings out.
			t.Errorf("ConfigMap key %s is empty: omit it for the contract's default", key)
		case def != "" && value != def:
			t.Errorf("ConfigMap %s = %q, want the contract's default %q", key, value, def)
		}
	}
	for key, def := range contractSettings {
		if _, ok := cm.Data[key]; def != "" && !ok {
			t.Errorf("ConfigMap lacks %s (contract default %q)", key, def)
		}
	}
}

func TestSecretTemplate(t *testing.T) {
	m := loadManifests(t)
	s := one[*corev1.Secret](t, m, "secret.example.yaml")
	if s.Name != secretName {
		t.Errorf("Secret name = %q, want %q", s.Name, secretName)
	}
	if s.Type != "" && s.Type != corev1.SecretTypeOpaque {
		t.Errorf("Secret type = %q, want Opaque", s.Type)
	}
	if len(s.Data) != 0 {
		t.Errorf("Secret template has data: use stringData with placeholders")
	}
	var keys []string
	for k, v := range s.StringData {
		keys = append(keys, k)
		if v != "REPLACE_ME" {
			t.Errorf("Secret template %s = %q: a template holds only the placeholder REPLACE_ME", k, v)
		}
	}
	sort.Strings(keys)
	want := slices.Clone(contractSecrets)
	sort.Strings(want)
	if !slices.Equal(keys, want) {
		t.Errorf("Secret template keys = %v, want %v", keys, want)
	}
	// No other manifest may hold a Secret: real credentials are never committed.
	for _, x := range m.all {
		if _, ok := x.obj.(*corev1.Secret); ok && x.file != "secret.example.yaml" {
			t.Errorf("%s holds a Secret; credentials do not belong in the repository", x.file)
		}
	}
}

func TestCronJob(t *testing.T) {
	m := loadManifests(t)
	cj := one[*batchv1.CronJob](t, m, "cronjob.yaml")
	if cj.Name != cronJobName {
		t.Errorf("CronJob name = %q, want %q", cj.Name, cronJobName)
	}
	s := cj.Spec
	if fields := strings.Fields(s.Schedule); len(fields) != 5 {
		t.Errorf("schedule %q is not a 5-field cron expression", s.Schedule)
	}
	if s.Schedule != "*/10 * * * *" {
		t.Errorf("schedule = %q, want every 10 minutes", s.Schedule)
	}
	if s.ConcurrencyPolicy != batchv1.ForbidConcurrent {
		t.Errorf("concurrencyPolicy = %q, want Forbid", s.ConcurrencyPolicy)
	}
	if s.Suspend != nil {
		// kubectl apply would reset a pause made with kubectl patch.
		t.Errorf("suspend is set in the manifest; leave it to kubectl patch")
	}
	positive(t, "startingDeadlineSeconds", s.StartingDeadlineSeconds)
	positive(t, "successfulJobsHistoryLimit", s.SuccessfulJobsHistoryLimit)
	positive(t, "failedJobsHistoryLimit", s.FailedJobsHistoryLimit)
	if s.StartingDeadlineSeconds != nil && *s.StartingDeadlineSeconds > 600 {
		t.Errorf("startingDeadlineSeconds %d exceeds the 10-minute interval", *s.StartingDeadlineSeconds)
	}
	checkJobSpec(t, "CronJob "+cj.Name, s.JobTemplate.Spec)
	if c := theContainer(t, "CronJob "+cj.Name, s.JobTemplate.Spec.Template.Spec); c != nil {
		if !slices.Equal(c.Args, []string{"sync"}) {
			t.Errorf("CronJob args = %q, want [sync]", c.Args)
		}
	}
}

func TestMigrateJob(t *testing.T) {
	m := loadManifests(t)
	j := one[*batchv1.Job](t, m, "migrate-job.yaml")
	if j.Name != migrateJob {
		t.Errorf("Job name = %q, want %q", j.Name, migrateJob)
	}
	checkJobSpec(t, "Job "+j.Name, j.Spec)
	if c := theContainer(t, "Job "+j.Name, j.Spec.Template.Spec); c != nil {
		if !slices.Equal(c.Args, []string{"migrate", "up"}) {
			t.Errorf("migrate Job args = %q, want [migrate up]", c.Args)
		}
	}
}

func TestBackfillJobTemplate(t *testing.T) {
	m := loadManifests(t)
	j := one[*batchv1.Job](t, m, "backfill-job.example.yaml")
	checkJobSpec(t, "Job "+j.Name, j.Spec)
	c := theContainer(t, "Job "+j.Name, j.Spec.Template.Spec)
	if c == nil {
		return
	}
	if len(c.Args) == 0 || c.Args[0] != "backfill" {
		t.Fatalf("backfill Job args = %q, want backfill --start T --end T", c.Args)
	}
	flags := map[string]string{}
	for i := 1; i < len(c.Args); i++ {
		a := c.Args[i]
		name, value, hasValue := strings.Cut(a, "=")
		if name != "--start" && name != "--end" {
			continue
		}
		if !hasValue {
			if i+1 >= len(c.Args) {
				t.Fatalf("backfill Job: %s has no value", name)
			}
			i++
			value = c.Args[i]
		}
		flags[name] = value
	}
	var times []time.Time
	for _, name := range []string{"--start", "--end"} {
		v, ok := flags[name]
		if !ok {
			t.Errorf("backfill Job args lack %s", name)
			continue
		}
		ts, err := time.Parse(time.RFC3339, v)
		if err != nil {
			t.Errorf("backfill Job %s %q is not RFC3339: %v", name, v, err)
			continue
		}
		times = append(times, ts)
	}
	if len(times) == 2 && !times[0].Before(times[1]) {
		t.Errorf("backfill Job --start %s is not before --end %s", times[0], times[1])
	}
}

func positive[N int32 | int64](t *testing.T, name string, v *N) {
	t.Helper()
	if v == nil {
		t.Errorf("%s is not set", name)
	} else if *v <= 0 {
		t.Errorf("%s = %d, want > 0", name, *v)
	}
}

// checkJobSpec holds every Job (the CronJob's, the migrate Job, the backfill template) to the
// same rules: bounded retries and run time, cleanup, and a locked-down pod.
func checkJobSpec(t *testing.T, what string, s batchv1.JobSpec) {
	t.Helper()
	if s.BackoffLimit == nil || *s.BackoffLimit < 0 || *s.BackoffLimit > 5 {
		t.Errorf("%s: backoffLimit must be set, 0..5", what)
	}
	positive(t, what+": activeDeadlineSeconds", s.ActiveDeadlineSeconds)
	positive(t, what+": ttlSecondsAfterFinished", s.TTLSecondsAfterFinished)

	ps := s.Template.Spec
	if ps.RestartPolicy != corev1.RestartPolicyNever {
		t.Errorf("%s: restartPolicy = %q, want Never (exit codes must reach the Job)", what, ps.RestartPolicy)
	}
	positive(t, what+": terminationGracePeriodSeconds", ps.TerminationGracePeriodSeconds)
	if ps.AutomountServiceAccountToken == nil || *ps.AutomountServiceAccountToken {
		t.Errorf("%s: automountServiceAccountToken should be false (cbarchive does not talk to the cluster)", what)
	}
	if ps.HostNetwork || ps.HostPID || ps.HostIPC {
		t.Errorf("%s: uses host namespaces", what)
	}
	for _, v := range ps.Volumes {
		if v.HostPath != nil {
			t.Errorf("%s: volume %s is a hostPath", what, v.Name)
		}
	}

	c := theContainer(t, what, ps)
	if c == nil {
		return
	}
	if s.PodFailurePolicy != nil {
		for _, r := range s.PodFailurePolicy.Rules {
			if r.OnExitCodes != nil && r.OnExitCodes.ContainerName != nil && *r.OnExitCodes.ContainerName != c.Name {
				t.Errorf("%s: podFailurePolicy names container %q, the pod has %q", what, *r.OnExitCodes.ContainerName, c.Name)
			}
			if r.OnExitCodes != nil && r.Action == batchv1.PodFailurePolicyActionFailJob && slices.Contains(r.OnExitCodes.Values, 1) {
				t.Errorf("%s: exit code 1 (a domain failed) is worth a retry; do not FailJob on it", what)
			}
		}
	}
	checkContainer(t, what, ps, *c)
}

// theContainer returns the pod's single container, named containerName.
func theContainer(t *testing.T, what string, ps corev1.PodSpec) *corev1.Container {
	t.Helper()
	if len(ps.Containers) != 1 {
		t.Errorf("%s: want exactly one container, found %d", what, len(ps.Containers))
		return nil
	}
	c := &ps.Containers[0]
	if c.Name != containerName {
		t.Errorf("%s: container name = %q, want %q", what, c.Name, containerName)
	}
	return c
}

func checkContainer(t *testing.T, what string, ps corev1.PodSpec, c corev1.Container) {
	t.Helper()
	// The image is the one kustomize's images: entry rewrites.
	if repo, _, _ := strings.Cut(c.Image, "@"); repo != imageName && !strings.HasPrefix(repo, imageName+":") {
		t.Errorf("%s: image = %q, want %s[:tag]", what, c.Image, imageName)
	}
	if len(c.Command) != 0 {
		t.Errorf("%s: command = %q overrides the image's ENTRYPOINT; give args only", what, c.Command)
	}

	// Settings from the ConfigMap, credentials from the Secret.
	var fromConfigMap, fromSecret bool
	for _, ef := range c.EnvFrom {
		if ef.Prefix != "" {
			t.Errorf("%s: envFrom with prefix %q would rename the settings", what, ef.Prefix)
		}
		if r := ef.ConfigMapRef; r != nil && r.Name == configMapName {
			fromConfigMap = true
			if r.Optional != nil && *r.Optional {
				t.Errorf("%s: ConfigMap %s is optional", what, configMapName)
			}
		}
		if r := ef.SecretRef; r != nil && r.Name == secretName {
			fromSecret = true
			if r.Optional != nil && *r.Optional {
				t.Errorf("%s: Secret %s is optional", what, secretName)
			}
		}
	}
	if !fromConfigMap {
		t.Errorf("%s: envFrom lacks configMapRef %s", what, configMapName)
	}
	if !fromSecret {
		t.Errorf("%s: envFrom lacks secretRef %s", what, secretName)
	}
	for _, e := range c.Env {
		if slices.Contains(contractSecrets, e.Name) && (e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil) {
			t.Errorf("%s: env %s is a credential given outside a Secret", what, e.Name)
		}
		if strings.HasPrefix(e.Name, "CBARCHIVE_") {
			if _, ok := contractSettings[e.Name]; !ok {
				t.Errorf("%s: env %s is not a setting of docs/reference.md", what, e.Name)
			}
		}
	}

	// The Go runtime's soft memory limit sits below the container's memory limit, with room
	// for what the runtime does not count (stacks of the OS, the binary's text).
	if lim, ok := c.Resources.Limits[corev1.ResourceMemory]; ok {
		checkGoMemLimit(t, what, c.Env, lim)
	}

	// Resources: requests and limits for CPU and memory, requests within limits.
	for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		req, okReq := c.Resources.Requests[r]
		lim, okLim := c.Resources.Limits[r]
		if !okReq || req.IsZero() {
			t.Errorf("%s: resources.requests.%s is not set", what, r)
		}
		if !okLim || lim.IsZero() {
			t.Errorf("%s: resources.limits.%s is not set", what, r)
		}
		if okReq && okLim && req.Cmp(lim) > 0 {
			t.Errorf("%s: requests.%s %s exceeds limits.%s %s", what, r, req.String(), r, lim.String())
		}
	}

	// Security: the container's settings win over the pod's.
	pod := ps.SecurityContext
	if pod == nil {
		pod = &corev1.PodSecurityContext{}
	}
	sc := c.SecurityContext
	if sc == nil {
		t.Errorf("%s: container has no securityContext", what)
		return
	}
	nonRoot := sc.RunAsNonRoot
	if nonRoot == nil {
		nonRoot = pod.RunAsNonRoot
	}
	if nonRoot == nil || !*nonRoot {
		t.Errorf("%s: runAsNonRoot is not true", what)
	}
	uid := sc.RunAsUser
	if uid == nil {
		uid = pod.RunAsUser
	}
	if uid == nil || *uid != nonrootUID {
		t.Errorf("%s: runAsUser is not %d (the image's nonroot user)", what, nonrootUID)
	}
	if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
		t.Errorf("%s: readOnlyRootFilesystem is not true", what)
	}
	if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		t.Errorf("%s: allowPrivilegeEscalation is not false", what)
	}
	if sc.Privileged != nil && *sc.Privileged {
		t.Errorf("%s: privileged", what)
	}
	if sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") {
		t.Errorf("%s: capabilities do not drop ALL", what)
	} else if len(sc.Capabilities.Add) != 0 {
		t.Errorf("%s: capabilities add %v", what, sc.Capabilities.Add)
	}
	seccomp := sc.SeccompProfile
	if seccomp == nil {
		seccomp = pod.SeccompProfile
	}
	if seccomp == nil || seccomp.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("%s: seccompProfile is not RuntimeDefault", what)
	}
}

// TestTemplatesMatchTheCronJobPod keeps the hand-applied backfill template in step with the
// CronJob: same image, settings, resources and security, only the arguments and limits differ.
func TestTemplatesMatchTheCronJobPod(t *testing.T) {
	m := loadManifests(t)
	cj := one[*batchv1.CronJob](t, m, "cronjob.yaml")
	base := cj.Spec.JobTemplate.Spec.Template.Spec
	for _, file := range []string{"migrate-job.yaml", "backfill-job.example.yaml"} {
		j := one[*batchv1.Job](t, m, file)
		ps := j.Spec.Template.Spec
		if len(ps.Containers) != 1 || len(base.Containers) != 1 {
			continue // reported elsewhere
		}
		a, b := base.Containers[0], ps.Containers[0]
		if a.Image != b.Image {
			t.Errorf("%s: image %q differs from the CronJob's %q", file, b.Image, a.Image)
		}
		if !equalYAML(t, a.EnvFrom, b.EnvFrom) {
			t.Errorf("%s: envFrom differs from the CronJob's", file)
		}
		if !equalYAML(t, a.SecurityContext, b.SecurityContext) || !equalYAML(t, base.SecurityContext, ps.SecurityContext) {
			t.Errorf("%s: securityContext differs from the CronJob's", file)
		}
	}
}

func equalYAML(t *testing.T, a, b any) bool {
	t.Helper()
	x, err := yaml.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	y, err := yaml.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Equal(x, y)
}

// TestAlertRulesMatchTheSchedule holds metrics/ALERTS.md to the CronJob's schedule: its rules
// count runs in minutes.
func TestAlertRulesMatchTheSchedule(t *testing.T) {
	m := loadManifests(t)
	cj := one[*batchv1.CronJob](t, m, "cronjob.yaml")
	every, ok := strings.CutPrefix(cj.Spec.Schedule, "*/")
	minutes, err := strconv.Atoi(strings.TrimSuffix(every, " * * * *"))
	if !ok || err != nil {
		t.Fatalf("CronJob schedule %q is not \"*/N * * * *\": update this test and metrics/ALERTS.md together", cj.Spec.Schedule)
	}
	alerts, err := os.ReadFile(filepath.Join(repoRoot, "metrics", "ALERTS.md"))
	if err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("scheduled every %d minutes", minutes); !strings.Contains(string(alerts), want) {
		t.Errorf("metrics/ALERTS.md does not say %q: its rules are not written for the CronJob's schedule", want)
	}
	readme, err := os.ReadFile(filepath.Join(k8sDir, "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("every %d minutes", minutes); !strings.Contains(string(readme), want) {
		t.Errorf("deploy/README.md does not say %q", want)
	}
}

// checkGoMemLimit wants GOMEMLIMIT set to 60–90 % of the container's memory limit.
func checkGoMemLimit(t *testing.T, what string, env []corev1.EnvVar, limit resource.Quantity) {
	t.Helper()
	i := slices.IndexFunc(env, func(e corev1.EnvVar) bool { return e.Name == "GOMEMLIMIT" })
	if i < 0 {
		t.Errorf("%s: env GOMEMLIMIT is not set: without it the garbage collector lets the heap grow to the container's memory limit (%s) and the kernel kills the run", what, limit.String())
		return
	}
	got, err := goMemLimitBytes(env[i].Value)
	if err != nil {
		t.Errorf("%s: GOMEMLIMIT %q: %v", what, env[i].Value, err)
		return
	}
	if lo, hi := limit.Value()*6/10, limit.Value()*9/10; got < lo || got > hi {
		t.Errorf("%s: GOMEMLIMIT %q is %d bytes, want 60–90 %% of the memory limit %s (%d..%d bytes)", what, env[i].Value, got, limit.String(), lo, hi)
	}
}

// goMemLimitBytes parses a GOMEMLIMIT value as the Go runtime does: a number of bytes with an
// optional unit B, KiB, MiB, GiB or TiB.
func goMemLimitBytes(v string) (int64, error) {
	units := []struct {
		suffix string
		mult   int64
	}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"B", 1}}
	mult := int64(1)
	for _, u := range units {
		if strings.HasSuffix(v, u.suffix) {
			v, mult = strings.TrimSuffix(v, u.suffix), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("not a positive number of bytes with a unit B, KiB, MiB, GiB or TiB")
	}
	return n * mult, nil
}

func TestGoMemLimitBytes(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want int64
	}{{"200MiB", 209715200}, {"1GiB", 1073741824}, {"5000B", 5000}, {"123", 123}} {
		if got, err := goMemLimitBytes(tt.in); err != nil || got != tt.want {
			t.Errorf("goMemLimitBytes(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
		}
	}
	for _, bad := range []string{"", "200MB", "-1MiB", "lots"} {
		if _, err := goMemLimitBytes(bad); err == nil {
			t.Errorf("goMemLimitBytes(%q) took it", bad)
		}
	}
}
