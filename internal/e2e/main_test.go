// Package e2e drives the running server with real clients: a headless browser on the
// playground, and other client stacks.
package e2e

import (
	"os"
	"testing"

	"inkwell/internal/apptest"
)

func TestMain(m *testing.M) { os.Exit(apptest.Main(m)) }
