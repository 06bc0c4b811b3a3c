package deploy

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/goccy/go-yaml"
)

// The ECS blue/green deployment's appspec names the container and port the load
// balancer targets: the task definitions' container "inkwell" on 8080.
func TestAppSpec(t *testing.T) {
	type service struct {
		Type       string `yaml:"Type"`
		Properties struct {
			TaskDefinition   string `yaml:"TaskDefinition"`
			LoadBalancerInfo struct {
				ContainerName string `yaml:"ContainerName"`
				ContainerPort int    `yaml:"ContainerPort"`
			} `yaml:"LoadBalancerInfo"`
		} `yaml:"Properties"`
	}
	var spec struct {
		Resources []map[string]service `yaml:"Resources"`
	}
	b, err := os.ReadFile("ecs/appspec.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, &spec); err != nil {
		t.Fatal(err)
	}
	if len(spec.Resources) != 1 {
		t.Fatalf("resources = %+v, want one TargetService", spec.Resources)
	}
	ts, ok := spec.Resources[0]["TargetService"]
	if !ok || ts.Type != "AWS::ECS::Service" || ts.Properties.TaskDefinition == "" {
		t.Errorf("TargetService = %+v, want an ECS service with a task definition placeholder", ts)
	}
	if lb := ts.Properties.LoadBalancerInfo; lb.ContainerName != "inkwell" || lb.ContainerPort != 8080 {
		t.Errorf("LoadBalancerInfo = %+v, want container inkwell on 8080", lb)
	}
}

// What the pipeline's safety rests on, beyond what actionlint checks: every action is
// pinned to a commit, a release is built only after CI passed on its commit, and the
// deployments take an image whose provenance was checked, by digest.
func TestWorkflows(t *testing.T) {
	files, err := filepath.Glob("../.github/workflows/*.yml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no workflows (%v)", err)
	}
	read := func(name string) string {
		b, err := os.ReadFile("../.github/workflows/" + name)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	uses := regexp.MustCompile(`(?m)^\s*(?:-\s+)?uses:\s*(\S+)`)
	pinned := regexp.MustCompile(`^[\w.-]+/[\w./-]+@[0-9a-f]{40}$`)
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range uses.FindAllStringSubmatch(string(b), -1) {
			if ref := m[1]; !strings.HasPrefix(ref, "./") && !pinned.MatchString(ref) {
				t.Errorf("%s: %s is not pinned to a commit", filepath.Base(f), ref)
			}
		}
	}

	var release struct {
		Jobs map[string]struct {
			Uses  string `yaml:"uses"`
			Needs any    `yaml:"needs"`
			Steps []struct {
				With map[string]any `yaml:"with"`
			} `yaml:"steps"`
		} `yaml:"jobs"`
	}
	if err := yaml.Unmarshal([]byte(read("release.yml")), &release); err != nil {
		t.Fatal(err)
	}
	if release.Jobs["ci"].Uses != "./.github/workflows/ci.yml" || release.Jobs["image"].Needs != "ci" {
		t.Errorf("release.yml: ci uses %q, image needs %v; want the image job to need a call of ci.yml",
			release.Jobs["ci"].Uses, release.Jobs["image"].Needs)
	}
	var buildArgs, outputs string
	for _, s := range release.Jobs["image"].Steps {
		if v, ok := s.With["build-args"].(string); ok {
			buildArgs = v
		}
		if v, ok := s.With["outputs"].(string); ok {
			outputs = v
		}
	}
	if !strings.Contains(buildArgs, "VERSION=${{ github.ref_name }}") {
		t.Errorf("release.yml build-args = %q, want VERSION set to the tag", buildArgs)
	}
	// .ci/check-deploy limits the image's size as pushed so: zstd level 19, every layer.
	for _, want := range []string{"type=registry", "compression=zstd", "compression-level=19", "force-compression=true", "oci-mediatypes=true"} {
		if !strings.Contains(outputs, want) {
			t.Errorf("release.yml outputs = %q, want %s", outputs, want)
		}
	}
	if !strings.Contains(read("ci.yml"), "workflow_call:") {
		t.Error("ci.yml cannot be called by release.yml")
	}

	ecs := read("deploy-ecs.yml")
	for _, want := range []string{
		"codedeploy-appspec: deploy/ecs/appspec.yaml",
		"role-to-assume: ${{ vars.AWS_ROLE_ARN }}",
		"image: ${{ steps.ecr.outputs.image }}",
		`echo "image=$uri@$DIGEST"`,
	} {
		if !strings.Contains(ecs, want) {
			t.Errorf("deploy-ecs.yml lacks %q", want)
		}
	}
	if strings.Contains(ecs, "aws-access-key-id") || strings.Contains(ecs, "aws-secret-access-key") {
		t.Error("deploy-ecs.yml uses stored AWS keys, want OIDC")
	}
	if d := read("deploy.yml"); !strings.Contains(d, "environment: staging") || !strings.Contains(d, "environment: production") ||
		!strings.Contains(d, "needs: [image, staging]") {
		t.Error("deploy.yml: want staging, then production")
	}
	vm := read("deploy-vm.yml")
	for _, want := range []string{
		"runs-on: [self-hosted, inkwell-vm]",
		"IMAGE: ${{ needs.image.outputs.image }}@${{ needs.image.outputs.digest }}",
		`"$STACK_DIR/release" "$IMAGE"`,
	} {
		if !strings.Contains(vm, want) {
			t.Errorf("deploy-vm.yml lacks %q", want)
		}
	}
	// Both deployments take the image from the one place that checks its provenance.
	for _, f := range []string{"deploy.yml", "deploy-vm.yml"} {
		if !strings.Contains(read(f), "uses: ./.github/workflows/release-image.yml") {
			t.Errorf("%s does not resolve the image with release-image.yml", f)
		}
	}
	if r := read("release-image.yml"); !strings.Contains(r, "gh attestation verify") || !strings.Contains(r, "--signer-workflow") {
		t.Error("release-image.yml does not verify the image's provenance")
	}
}
