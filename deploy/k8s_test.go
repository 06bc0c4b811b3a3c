package deploy

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/goccy/go-yaml"
)

// The fields of the manifests these tests look at; kubectl-validate in .ci/check-deploy
// checks every field against the Kubernetes schemas.
type (
	probe struct {
		HTTPGet struct {
			Path string `yaml:"path"`
			Port string `yaml:"port"`
		} `yaml:"httpGet"`
	}
	container struct {
		Name    string   `yaml:"name"`
		Image   string   `yaml:"image"`
		Args    []string `yaml:"args"`
		EnvFrom []struct {
			ConfigMapRef struct{ Name string } `yaml:"configMapRef"`
		} `yaml:"envFrom"`
		Env []struct {
			Name      string  `yaml:"name"`
			Value     *string `yaml:"value"`
			ValueFrom struct {
				SecretKeyRef     *struct{ Name, Key string } `yaml:"secretKeyRef"`
				ResourceFieldRef *struct {
					ContainerName string `yaml:"containerName"`
					Resource      string `yaml:"resource"`
					Divisor       string `yaml:"divisor"`
				} `yaml:"resourceFieldRef"`
			} `yaml:"valueFrom"`
		} `yaml:"env"`
		ReadinessProbe *probe `yaml:"readinessProbe"`
		LivenessProbe  *probe `yaml:"livenessProbe"`
		Lifecycle      struct {
			PreStop struct {
				Sleep *struct{ Seconds int } `yaml:"sleep"`
			} `yaml:"preStop"`
		} `yaml:"lifecycle"`
		Resources struct {
			Requests map[string]string `yaml:"requests"`
			Limits   map[string]string `yaml:"limits"`
		} `yaml:"resources"`
		SecurityContext struct {
			AllowPrivilegeEscalation *bool                   `yaml:"allowPrivilegeEscalation"`
			ReadOnlyRootFilesystem   bool                    `yaml:"readOnlyRootFilesystem"`
			Capabilities             struct{ Drop []string } `yaml:"capabilities"`
		} `yaml:"securityContext"`
	}
	podTemplate struct {
		Metadata struct {
			Labels map[string]string `yaml:"labels"`
		} `yaml:"metadata"`
		Spec struct {
			TerminationGracePeriodSeconds int `yaml:"terminationGracePeriodSeconds"`
			SecurityContext               struct {
				RunAsNonRoot bool `yaml:"runAsNonRoot"`
				RunAsUser    int  `yaml:"runAsUser"`
			} `yaml:"securityContext"`
			Containers []container `yaml:"containers"`
		} `yaml:"spec"`
	}
	manifest struct {
		Kind     string `yaml:"kind"`
		Metadata struct {
			Name        string            `yaml:"name"`
			Labels      map[string]string `yaml:"labels"`
			Annotations map[string]string `yaml:"annotations"`
		} `yaml:"metadata"`
		Data map[string]string `yaml:"data"`
		Spec struct {
			TTLSecondsAfterFinished *int `yaml:"ttlSecondsAfterFinished"`
			Replicas                *int `yaml:"replicas"`
			Selector                struct {
				MatchLabels map[string]string `yaml:"matchLabels"`
			} `yaml:"selector"`
			Strategy struct {
				RollingUpdate struct {
					MaxUnavailable any `yaml:"maxUnavailable"`
				} `yaml:"rollingUpdate"`
			} `yaml:"strategy"`
			Template       podTemplate `yaml:"template"`
			MinReplicas    int         `yaml:"minReplicas"`
			ScaleTargetRef struct {
				Kind, Name string
			} `yaml:"scaleTargetRef"`
		} `yaml:"spec"`
	}
)

func readManifest(t *testing.T, path string) manifest {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("k8s", path))
	if err != nil {
		t.Fatal(err)
	}
	var m manifest
	if err := yaml.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return m
}

// checkPod holds for the app's pods and the migration Job's alike.
func checkPod(t *testing.T, pod podTemplate) container {
	t.Helper()
	if !pod.Spec.SecurityContext.RunAsNonRoot || pod.Spec.SecurityContext.RunAsUser == 0 {
		t.Errorf("pod securityContext %+v, want runAsNonRoot with a non-zero user", pod.Spec.SecurityContext)
	}
	if len(pod.Spec.Containers) != 1 {
		t.Fatalf("%d containers, want 1", len(pod.Spec.Containers))
	}
	c := pod.Spec.Containers[0]
	sc := c.SecurityContext
	if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation || !sc.ReadOnlyRootFilesystem || !slices.Equal(sc.Capabilities.Drop, []string{"ALL"}) {
		t.Errorf("container securityContext %+v, want no privilege escalation, a read-only root, all capabilities dropped", sc)
	}
	if c.Resources.Requests["cpu"] == "" || c.Resources.Requests["memory"] == "" || c.Resources.Limits["memory"] == "" {
		t.Errorf("resources %+v, want cpu and memory requests and a memory limit", c.Resources)
	}
	// Secrets only by reference: no literal value for them in git.
	for _, e := range c.Env {
		secret := e.Name == "DATABASE_URL" || e.Name == "REDIS_URL" || strings.Contains(e.Name, "KEY") || strings.Contains(e.Name, "SECRET")
		if secret && (e.Value != nil || e.ValueFrom.SecretKeyRef == nil) {
			t.Errorf("env %s is not taken from a Secret", e.Name)
		}
	}
	return c
}

func TestKubernetesDeployment(t *testing.T) {
	d := readManifest(t, "deployment.yaml")
	cm := readManifest(t, "configmap.yaml")
	if d.Spec.Replicas == nil || *d.Spec.Replicas != 2 {
		t.Errorf("replicas = %v, want 2", d.Spec.Replicas)
	}
	if mu := d.Spec.Strategy.RollingUpdate.MaxUnavailable; mu != uint64(0) {
		t.Errorf("maxUnavailable = %v, want 0: a rollout never goes below the replica count", mu)
	}
	c := checkPod(t, d.Spec.Template)
	if c.ReadinessProbe == nil || c.ReadinessProbe.HTTPGet.Path != "/readyz" {
		t.Errorf("readinessProbe %+v, want GET /readyz", c.ReadinessProbe)
	}
	if c.LivenessProbe == nil || c.LivenessProbe.HTTPGet.Path != "/healthz" {
		t.Errorf("livenessProbe %+v, want GET /healthz", c.LivenessProbe)
	}
	if len(c.EnvFrom) != 1 || c.EnvFrom[0].ConfigMapRef.Name != cm.Metadata.Name {
		t.Errorf("envFrom %+v, want the ConfigMap %q", c.EnvFrom, cm.Metadata.Name)
	}
	if cm.Data["INKWELL_MIGRATE_ON_START"] != "false" || cm.Data["INKWELL_ENV"] != "production" {
		t.Errorf("ConfigMap %v: want production, and migrations left to the Job", cm.Data)
	}
	// SIGTERM comes after the preStop sleep; the drain must end before the SIGKILL.
	sleep := c.Lifecycle.PreStop.Sleep
	grace, err := time.ParseDuration(cm.Data["INKWELL_SHUTDOWN_GRACE"])
	if sleep == nil || sleep.Seconds < 1 || err != nil {
		t.Fatalf("preStop sleep %v, INKWELL_SHUTDOWN_GRACE %q: want both", sleep, cm.Data["INKWELL_SHUTDOWN_GRACE"])
	}
	if total := time.Duration(d.Spec.Template.Spec.TerminationGracePeriodSeconds) * time.Second; total <= time.Duration(sleep.Seconds)*time.Second+grace {
		t.Errorf("terminationGracePeriodSeconds %v <= preStop %ds + drain %v", total, sleep.Seconds, grace)
	}
	if !maps.Equal(d.Spec.Selector.MatchLabels, subset(d.Spec.Template.Metadata.Labels, d.Spec.Selector.MatchLabels)) {
		t.Errorf("selector %v does not match the pod labels %v", d.Spec.Selector.MatchLabels, d.Spec.Template.Metadata.Labels)
	}
}

// subset is the part of labels with sel's keys.
func subset(labels, sel map[string]string) map[string]string {
	out := map[string]string{}
	for k := range sel {
		if v, ok := labels[k]; ok {
			out[k] = v
		}
	}
	return out
}

func TestKubernetesServicePDBAndHPA(t *testing.T) {
	d := readManifest(t, "deployment.yaml")
	labels := d.Spec.Template.Metadata.Labels
	// A Service's selector is a plain map, unlike the others' matchLabels.
	b, err := os.ReadFile("k8s/service.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var svc struct {
		Spec struct {
			Selector map[string]string `yaml:"selector"`
		} `yaml:"spec"`
	}
	if err := yaml.Unmarshal(b, &svc); err != nil {
		t.Fatal(err)
	}
	if sel := svc.Spec.Selector; len(sel) == 0 || !maps.Equal(sel, subset(labels, sel)) {
		t.Errorf("Service selector %v does not select the pods %v", sel, labels)
	}
	pdb := readManifest(t, "pdb.yaml")
	if sel := pdb.Spec.Selector.MatchLabels; len(sel) == 0 || !maps.Equal(sel, subset(labels, sel)) {
		t.Errorf("PodDisruptionBudget selector %v does not select the pods %v", sel, labels)
	}
	hpa := readManifest(t, "hpa.yaml")
	if hpa.Spec.ScaleTargetRef.Kind != "Deployment" || hpa.Spec.ScaleTargetRef.Name != d.Metadata.Name || hpa.Spec.MinReplicas < 2 {
		t.Errorf("HPA targets %+v with min %d, want the Deployment with at least 2", hpa.Spec.ScaleTargetRef, hpa.Spec.MinReplicas)
	}
}

func TestKubernetesMigrationJob(t *testing.T) {
	j := readManifest(t, "migrate/job.yaml")
	if j.Kind != "Job" {
		t.Fatalf("kind = %s, want Job", j.Kind)
	}
	c := checkPod(t, j.Spec.Template)
	if !slices.Equal(c.Args, []string{"migrate"}) {
		t.Errorf("args = %v, want [migrate]", c.Args)
	}
	// Applied again with the next release, the Job must be a new one (a Job's template
	// is immutable): its name ends in a part the kustomization replaces with the tag.
	if j.Metadata.Name != "inkwell-migrate-tag" {
		t.Errorf("name = %q, want inkwell-migrate-tag (the tag replaces its last part)", j.Metadata.Name)
	}
	if j.Spec.TTLSecondsAfterFinished == nil || *j.Spec.TTLSecondsAfterFinished <= 0 {
		t.Error("ttlSecondsAfterFinished is unset: finished Jobs would pile up, one per release")
	}
	if j.Metadata.Annotations["argocd.argoproj.io/hook"] != "PreSync" {
		t.Errorf("annotations %v: want an Argo CD PreSync hook", j.Metadata.Annotations)
	}
	b, err := os.ReadFile("k8s/migrate/kustomization.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var k struct {
		Replacements []struct {
			Source struct {
				Name      string `yaml:"name"`
				FieldPath string `yaml:"fieldPath"`
				Options   struct {
					Delimiter string `yaml:"delimiter"`
					Index     int    `yaml:"index"`
				} `yaml:"options"`
			} `yaml:"source"`
			Targets []struct {
				FieldPaths []string `yaml:"fieldPaths"`
				Options    struct {
					Delimiter string `yaml:"delimiter"`
					Index     int    `yaml:"index"`
				} `yaml:"options"`
			} `yaml:"targets"`
		} `yaml:"replacements"`
	}
	if err := yaml.Unmarshal(b, &k); err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(j.Metadata.Name, "-")
	ok := len(k.Replacements) == 1 && len(k.Replacements[0].Targets) == 1
	if ok {
		src, dst := k.Replacements[0].Source, k.Replacements[0].Targets[0]
		ok = src.Name == j.Metadata.Name && strings.HasSuffix(src.FieldPath, ".image") &&
			src.Options.Delimiter == ":" && src.Options.Index == 1 &&
			slices.Equal(dst.FieldPaths, []string{"metadata.name"}) &&
			dst.Options.Delimiter == "-" && dst.Options.Index == len(parts)-1
	}
	if !ok {
		t.Errorf("k8s/migrate/kustomization.yaml replacements %+v: want the image's tag as the name's last part", k.Replacements)
	}
}

// GOMEMLIMIT comes from the container's memory limit, and what it does not count fits in
// the rest: the response cache (off Go's heap) and a margin.
func TestKubernetesMemoryLimit(t *testing.T) {
	d := readManifest(t, "deployment.yaml")
	cm := readManifest(t, "configmap.yaml")
	c := d.Spec.Template.Spec.Containers[0]
	limit := c.Resources.Limits["memory"]
	limitMiB, err := strconv.Atoi(strings.TrimSuffix(limit, "Mi"))
	if err != nil || !strings.HasSuffix(limit, "Mi") {
		t.Fatalf("memory limit %q: want a whole number of Mi", limit)
	}
	var source, value string
	for i, e := range c.Env {
		if e.Name != "GOMEMLIMIT" || e.Value == nil {
			continue
		}
		value = *e.Value
		// $(VAR) expands only variables defined before it.
		for _, prev := range c.Env[:i] {
			if r := prev.ValueFrom.ResourceFieldRef; r != nil && r.Resource == "limits.memory" && r.Divisor == "1Mi" && r.ContainerName == c.Name {
				source = prev.Name
			}
		}
	}
	if source == "" || value != "$("+source+")000000B" {
		t.Fatalf("GOMEMLIMIT = %q: want $(VAR)000000B, VAR an earlier variable with the container's limits.memory in Mi", value)
	}
	const mib = 1 << 20
	goLimit := float64(limitMiB) * 1e6
	responseCacheMB := 32.0 // INKWELL_RESPONSE_CACHE_MB's default, in MiB
	if v, ok := cm.Data["INKWELL_RESPONSE_CACHE_MB"]; ok {
		if responseCacheMB, err = strconv.ParseFloat(v, 64); err != nil {
			t.Fatal(err)
		}
	}
	rest := float64(limitMiB)*mib - goLimit
	// The margin: the binary's mapped pages and thread stacks.
	if need := responseCacheMB*mib + 8*mib; rest < need {
		t.Errorf("memory limit %s leaves %.1f MiB beside GOMEMLIMIT, want at least %.1f MiB (response cache and margin): raise it", limit, rest/mib, need/mib)
	}
}

// ingress-nginx in front of the Service, with TLS and timeouts that let subscriptions live.
func TestKubernetesIngress(t *testing.T) {
	b, err := os.ReadFile("k8s/ingress.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var ing struct {
		Metadata struct {
			Annotations map[string]string `yaml:"annotations"`
		} `yaml:"metadata"`
		Spec struct {
			IngressClassName string `yaml:"ingressClassName"`
			TLS              []struct {
				Hosts      []string `yaml:"hosts"`
				SecretName string   `yaml:"secretName"`
			} `yaml:"tls"`
			Rules []struct {
				Host string `yaml:"host"`
				HTTP struct {
					Paths []struct {
						Backend struct {
							Service struct {
								Name string `yaml:"name"`
								Port struct {
									Name string `yaml:"name"`
								} `yaml:"port"`
							} `yaml:"service"`
						} `yaml:"backend"`
					} `yaml:"paths"`
				} `yaml:"http"`
			} `yaml:"rules"`
		} `yaml:"spec"`
	}
	if err := yaml.Unmarshal(b, &ing); err != nil {
		t.Fatal(err)
	}
	if ing.Spec.IngressClassName != "nginx" {
		t.Errorf("ingressClassName = %q, want nginx (the annotations are ingress-nginx's)", ing.Spec.IngressClassName)
	}
	if len(ing.Spec.TLS) != 1 || ing.Spec.TLS[0].SecretName == "" || len(ing.Spec.Rules) != 1 || !slices.Contains(ing.Spec.TLS[0].Hosts, ing.Spec.Rules[0].Host) {
		t.Fatalf("tls %+v, rules %+v: want one host, served with a TLS secret", ing.Spec.TLS, ing.Spec.Rules)
	}
	// Longer than the server's 25 s WebSocket ping, or idle subscriptions are cut.
	for _, a := range []string{"nginx.ingress.kubernetes.io/proxy-read-timeout", "nginx.ingress.kubernetes.io/proxy-send-timeout"} {
		if s, err := strconv.Atoi(ing.Metadata.Annotations[a]); err != nil || s < 300 {
			t.Errorf("%s = %q, want at least 300 seconds", a, ing.Metadata.Annotations[a])
		}
	}
	ports := servicePorts(t)
	for _, p := range ing.Spec.Rules[0].HTTP.Paths {
		if be := p.Backend.Service; be.Name != "inkwell" || !slices.Contains(ports, be.Port.Name) {
			t.Errorf("backend %+v, want the Service inkwell by one of its ports %v", be, ports)
		}
	}
}

// servicePorts are the names of the Service's ports.
func servicePorts(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile("k8s/service.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var svc struct {
		Spec struct {
			Ports []struct{ Name string } `yaml:"ports"`
		} `yaml:"spec"`
	}
	if err := yaml.Unmarshal(b, &svc); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range svc.Spec.Ports {
		names = append(names, p.Name)
	}
	return names
}

func TestKubernetesNetworkPolicy(t *testing.T) {
	d := readManifest(t, "deployment.yaml")
	b, err := os.ReadFile("k8s/networkpolicy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	type port struct {
		Port     any    `yaml:"port"`
		Protocol string `yaml:"protocol"`
	}
	type peer struct {
		NamespaceSelector *struct {
			MatchLabels map[string]string `yaml:"matchLabels"`
		} `yaml:"namespaceSelector"`
		IPBlock *struct {
			CIDR string `yaml:"cidr"`
		} `yaml:"ipBlock"`
	}
	var np struct {
		Spec struct {
			PodSelector struct {
				MatchLabels map[string]string `yaml:"matchLabels"`
			} `yaml:"podSelector"`
			PolicyTypes []string `yaml:"policyTypes"`
			Ingress     []struct {
				From  []peer `yaml:"from"`
				Ports []port `yaml:"ports"`
			} `yaml:"ingress"`
			Egress []struct {
				To    []peer `yaml:"to"`
				Ports []port `yaml:"ports"`
			} `yaml:"egress"`
		} `yaml:"spec"`
	}
	if err := yaml.Unmarshal(b, &np); err != nil {
		t.Fatal(err)
	}
	labels := d.Spec.Template.Metadata.Labels
	if sel := np.Spec.PodSelector.MatchLabels; len(sel) == 0 || !maps.Equal(sel, subset(labels, sel)) {
		t.Errorf("podSelector %v does not select the pods %v", sel, labels)
	}
	if !slices.Equal(np.Spec.PolicyTypes, []string{"Ingress", "Egress"}) {
		t.Errorf("policyTypes = %v, want both directions", np.Spec.PolicyTypes)
	}
	// Who may reach which port: a namespace to the port names it is allowed.
	in := map[string][]string{}
	for _, r := range np.Spec.Ingress {
		if len(r.From) == 0 {
			t.Errorf("an ingress rule admits everyone: %+v", r)
		}
		for _, f := range r.From {
			if f.NamespaceSelector == nil || f.IPBlock != nil {
				t.Errorf("ingress from %+v: want namespaces only", f)
				continue
			}
			ns := f.NamespaceSelector.MatchLabels["kubernetes.io/metadata.name"]
			for _, p := range r.Ports {
				in[ns] = append(in[ns], fmt.Sprint(p.Port))
			}
		}
	}
	if want := map[string][]string{"ingress-nginx": {"http"}, "monitoring": {"metrics"}}; !maps.EqualFunc(in, want, slices.Equal) {
		t.Errorf("ingress = %v, want %v", in, want)
	}
	out := map[string]bool{}
	for _, r := range np.Spec.Egress {
		if len(r.To) == 0 || len(r.Ports) == 0 {
			t.Errorf("an egress rule allows any destination or port: %+v", r)
		}
		for _, p := range r.Ports {
			out[fmt.Sprintf("%v/%s", p.Port, p.Protocol)] = true
		}
	}
	for _, want := range []string{"53/UDP", "53/TCP", "5432/TCP", "6379/TCP", "443/TCP"} {
		if !out[want] {
			t.Errorf("egress to %s is not allowed (DNS, PostgreSQL, Redis, sign-in providers)", want)
		}
	}
}

// The ServiceMonitor is a custom resource kubectl-validate has no schema for, and applying
// it fails on clusters without the Prometheus Operator; it lives apart, checked here.
func TestKubernetesServiceMonitor(t *testing.T) {
	b, err := os.ReadFile("k8s/monitoring/servicemonitor.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var sm struct {
		APIVersion string `yaml:"apiVersion"`
		Kind       string `yaml:"kind"`
		Metadata   struct {
			Name string `yaml:"name"`
		} `yaml:"metadata"`
		Spec struct {
			JobLabel string `yaml:"jobLabel"`
			Selector struct {
				MatchLabels map[string]string `yaml:"matchLabels"`
			} `yaml:"selector"`
			Endpoints []struct {
				Port     string `yaml:"port"`
				Path     string `yaml:"path"`
				Interval string `yaml:"interval"`
			} `yaml:"endpoints"`
		} `yaml:"spec"`
	}
	if err := yaml.Unmarshal(b, &sm); err != nil {
		t.Fatal(err)
	}
	if sm.APIVersion != "monitoring.coreos.com/v1" || sm.Kind != "ServiceMonitor" || sm.Metadata.Name == "" {
		t.Fatalf("%s %s %q: want a monitoring.coreos.com/v1 ServiceMonitor with a name", sm.APIVersion, sm.Kind, sm.Metadata.Name)
	}
	svc := readManifest(t, "service.yaml")
	if sel := sm.Spec.Selector.MatchLabels; len(sel) == 0 || !maps.Equal(sel, subset(svc.Metadata.Labels, sel)) {
		t.Errorf("selector %v does not select the Service (labels %v)", sel, svc.Metadata.Labels)
	}
	// The alerts (deploy/monitoring/alerts.yml) expect job="inkwell".
	if job := svc.Metadata.Labels[sm.Spec.JobLabel]; job != "inkwell" {
		t.Errorf("jobLabel %q gives job %q, want inkwell", sm.Spec.JobLabel, job)
	}
	ports := servicePorts(t)
	if len(sm.Spec.Endpoints) != 1 || !slices.Contains(ports, sm.Spec.Endpoints[0].Port) || sm.Spec.Endpoints[0].Port == "http" || sm.Spec.Endpoints[0].Path != "/metrics" {
		t.Errorf("endpoints %+v, want /metrics on the Service's metrics port (of %v)", sm.Spec.Endpoints, ports)
	}
	if _, err := time.ParseDuration(sm.Spec.Endpoints[0].Interval); err != nil {
		t.Errorf("interval: %v", err)
	}
}

// Every manifest is in a kustomization, so `kubectl apply -k` deploys all of it.
func TestKustomizationsListEveryManifest(t *testing.T) {
	for _, dir := range []string{"k8s", "k8s/migrate", "k8s/monitoring"} {
		b, err := os.ReadFile(filepath.Join(dir, "kustomization.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		var k struct {
			Resources []string `yaml:"resources"`
		}
		if err := yaml.Unmarshal(b, &k); err != nil {
			t.Fatal(err)
		}
		files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		var want []string
		for _, f := range files {
			if base := filepath.Base(f); base != "kustomization.yaml" {
				want = append(want, base)
			}
		}
		got := slices.Sorted(slices.Values(k.Resources))
		if !slices.Equal(got, want) {
			t.Errorf("%s/kustomization.yaml resources = %v, want %v", dir, got, want)
		}
	}
}
