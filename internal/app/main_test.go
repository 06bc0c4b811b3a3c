package app_test

import (
	"os"
	"testing"

	"inkwell/internal/apptest"
	"inkwell/internal/s3test"
)

func TestMain(m *testing.M) {
	code := apptest.Main(m)
	s3test.StopAll() // the S3 server of the upload tests, if they started one
	os.Exit(code)
}
