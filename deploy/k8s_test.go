package deploy

import (
	"maps"
	"os"
	"path/filepath"
	"slices"
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
		Image   string   `yaml:"image"`
		Args    []string `yaml:"args"`
		EnvFrom []struct {
			ConfigMapRef struct{ Name string } `yaml:"configMapRef"`
		} `yaml:"envFrom"`
		Env []struct {
			Name      string  `yaml:"name"`
			Value     *string `yaml:"value"`
			ValueFrom struct {
				SecretKeyRef *struct{ Name, Key string } `yaml:"secretKeyRef"`
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
			Name string `yaml:"name"`
		} `yaml:"metadata"`
		Data map[string]string `yaml:"data"`
		Spec struct {
			Replicas *int `yaml:"replicas"`
			Selector struct {
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
}

// Every manifest is in a kustomization, so `kubectl apply -k` deploys all of it.
func TestKustomizationsListEveryManifest(t *testing.T) {
	for _, dir := range []string{"k8s", "k8s/migrate"} {
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
