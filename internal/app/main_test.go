package app_test

import (
	"os"
	"testing"

	"inkwell/internal/apptest"
)

func TestMain(m *testing.M) { os.Exit(apptest.Main(m)) }
