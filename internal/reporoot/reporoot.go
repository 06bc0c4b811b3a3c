// Package reporoot finds the repository's root from a test's working directory, for test
// helpers that run the repository's own scripts (.ci/…).
package reporoot

import (
	"errors"
	"os"
	"path/filepath"
)

// Find is the folder of the go.mod at or above the working directory.
func Find() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod at or above the working directory")
		}
		dir = parent
	}
}
