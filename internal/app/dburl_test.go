package app_test

import (
	"testing"

	"inkwell/internal/app"
)

func TestDatabaseURL(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"postgres://u@h:5432/db?sslmode=disable", "postgres://u@h:5432/db?binary_parameters=yes&connect_timeout=5&sslmode=disable"},
		{"postgresql://h/db", "postgresql://h/db?binary_parameters=yes&connect_timeout=5"},
		{"postgres://h/db?binary_parameters=no&connect_timeout=1", "postgres://h/db?binary_parameters=no&connect_timeout=1"},
		{"host=h dbname=db", "host=h dbname=db binary_parameters=yes connect_timeout=5"},
		{"host=h connect_timeout=2", "host=h connect_timeout=2 binary_parameters=yes"},
	} {
		if got := app.DatabaseURL(tc.in); got != tc.want {
			t.Errorf("DatabaseURL(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
