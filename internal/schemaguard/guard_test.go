package schemaguard_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"inkwell/internal/schemaguard"
	"inkwell/internal/server"
)

// root is the repository root, seen from this package's folder.
const root = "../.."

// TestSchemaIsCompatibleWithTheLastRelease fails on a breaking change from
// released.graphql to schema.graphql that intended.txt does not list.
func TestSchemaIsCompatibleWithTheLastRelease(t *testing.T) {
	t.Parallel()
	released, err := schemaguard.LoadSchema("released.graphql")
	if err != nil {
		t.Fatal(err)
	}
	current, err := schemaguard.LoadSchema(filepath.Join(root, "schema.graphql"))
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open("intended.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	intended, err := schemaguard.ParseIntended(f)
	if err != nil {
		t.Fatalf("intended.txt: %v", err)
	}

	changes := schemaguard.Diff(released, current)
	var safe int
	for _, c := range changes {
		switch c.Severity {
		case schemaguard.Breaking:
			if why, ok := intended[c.ID()]; ok {
				t.Logf("intended breaking change: %s (%s)", c, why)
			}
		case schemaguard.Dangerous:
			t.Logf("dangerous change: %s", c)
		default:
			safe++
		}
	}
	t.Logf("%d changes since the last release, %d of them safe additions or tightenings", len(changes), safe)
	if unintended, stale := schemaguard.Check(changes, intended); len(unintended)+len(stale) > 0 {
		t.Error("\n" + schemaguard.Advice(unintended, stale))
	}
}

// TestOperationsAreValid validates every operation the project sends: the load
// benchmark's workloads and the Apollo client's documents.
func TestOperationsAreValid(t *testing.T) {
	t.Parallel()
	schema, err := schemaguard.LoadSchema(filepath.Join(root, "schema.graphql"))
	if err != nil {
		t.Fatal(err)
	}
	for _, set := range []struct {
		name     string
		dirs     []string
		required bool // the check must not pass by finding nothing
	}{
		{"bench", []string{"bench/workloads"}, true},
		{"clients", []string{"clients/src", "clients/test"}, false},
	} {
		t.Run(set.name, func(t *testing.T) {
			t.Parallel()
			files, err := schemaguard.OperationFiles(root, set.dirs...)
			if err != nil {
				t.Fatal(err)
			}
			if len(files) == 0 {
				if set.required {
					t.Fatalf("no .graphql files under %v: the check would pass without checking anything", set.dirs)
				}
				t.Logf("no .graphql files under %v", set.dirs)
				return
			}
			problems, err := schemaguard.ValidateOperations(schema, root, files)
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range problems {
				t.Errorf("%s (not valid against schema.graphql)", p)
			}
			t.Logf("checked %d files: %s", len(files), strings.Join(files, ", "))
		})
	}
}

// TestPersistedQueryManifestIsValid checks the allow-list the client project generates,
// as the server would check it at start in allowlist mode.
func TestPersistedQueryManifestIsValid(t *testing.T) {
	t.Parallel()
	path := filepath.Join(root, "clients", "persisted-queries.json")
	if _, err := os.Stat(path); os.IsNotExist(err) {
		t.Logf("%s does not exist", path)
		return
	}
	schema, err := schemaguard.LoadSchema(filepath.Join(root, "schema.graphql"))
	if err != nil {
		t.Fatal(err)
	}
	m, err := server.LoadManifest(path, schema)
	if err != nil {
		t.Fatalf("%v\nregenerate it: cd clients && npm run persisted", err)
	}
	t.Logf("%d operations in %s", m.Len(), path)
}
