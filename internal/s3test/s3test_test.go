package s3test_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"inkwell/internal/s3test"
)

func TestMain(m *testing.M) {
	code := m.Run()
	s3test.StopAll()
	os.Exit(code)
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

var httpClient = &http.Client{Timeout: 30 * time.Second}

func TestPutGet(t *testing.T) {
	t.Parallel()
	srv := s3test.Start(t)
	if !strings.HasPrefix(srv.Endpoint, "http://127.0.0.1:") || srv.Region != "us-east-1" {
		t.Fatalf("endpoint %q, region %q", srv.Endpoint, srv.Region)
	}
	client := srv.Client()
	body := []byte("hello, bucket")
	if _, err := client.PutObject(ctx(t), &s3.PutObjectInput{
		Bucket: aws.String(srv.Bucket), Key: aws.String("dir/hello.txt"),
		Body: bytes.NewReader(body), ContentType: aws.String("text/plain"),
	}); err != nil {
		t.Fatal(err)
	}
	if got := get(t, srv, "dir/hello.txt"); !bytes.Equal(got, body) {
		t.Fatalf("got %q, want %q", got, body)
	}
}

func TestPresignedPut(t *testing.T) {
	t.Parallel()
	srv := s3test.Start(t)
	body := []byte(`{"presigned":true}`)
	res := presignedPut(t, srv, "up/a.json", int64(len(body)), body)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("presigned PUT: HTTP %d: %s", res.StatusCode, res.Body)
	}
	if got := get(t, srv, "up/a.json"); !bytes.Equal(got, body) {
		t.Fatalf("got %q, want %q", got, body)
	}
	head, err := srv.Client().HeadObject(ctx(t), &s3.HeadObjectInput{
		Bucket: aws.String(srv.Bucket), Key: aws.String("up/a.json"),
	})
	if err != nil {
		t.Fatal(err)
	}
	if ct := aws.ToString(head.ContentType); ct != "application/json" {
		t.Errorf("Content-Type %q, want application/json", ct)
	}
}

func TestPresignedPutWrongLength(t *testing.T) {
	t.Parallel()
	srv := s3test.Start(t)
	for _, body := range []string{"0123456789+", "012345678"} { // signed for 10 bytes
		res := presignedPut(t, srv, "up/b.bin", 10, []byte(body))
		t.Logf("%d-byte body on a 10-byte presigned PUT: HTTP %d %s", len(body), res.StatusCode, res.Body)
		if res.StatusCode < 400 || res.StatusCode > 499 {
			t.Errorf("%d-byte body on a 10-byte presigned PUT: HTTP %d, want 4xx", len(body), res.StatusCode)
		}
	}
	_, err := srv.Client().HeadObject(ctx(t), &s3.HeadObjectInput{
		Bucket: aws.String(srv.Bucket), Key: aws.String("up/b.bin"),
	})
	var nf *types.NotFound
	if !errors.As(err, &nf) {
		t.Errorf("HeadObject after refused PUTs: %v, want NotFound", err)
	}
}

func TestBucketsDiffer(t *testing.T) {
	t.Parallel()
	a, b := s3test.Start(t), s3test.Start(t)
	if a.Endpoint != b.Endpoint {
		t.Errorf("endpoints %s and %s, want one shared server", a.Endpoint, b.Endpoint)
	}
	if a.Bucket == b.Bucket {
		t.Fatalf("both got bucket %s", a.Bucket)
	}
	if _, err := a.Client().PutObject(ctx(t), &s3.PutObjectInput{
		Bucket: aws.String(a.Bucket), Key: aws.String("k"), Body: strings.NewReader("a"),
	}); err != nil {
		t.Fatal(err)
	}
	out, err := b.Client().ListObjectsV2(ctx(t), &s3.ListObjectsV2Input{Bucket: aws.String(b.Bucket)})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Contents) != 0 {
		t.Errorf("bucket %s lists %d objects, want 0", b.Bucket, len(out.Contents))
	}
}

type response struct {
	StatusCode int
	Body       string
}

// presignedPut signs a PUT of key for length bytes of application/json, then sends body
// with plain net/http.
func presignedPut(t *testing.T, srv *s3test.Server, key string, length int64, body []byte) response {
	t.Helper()
	req, err := s3.NewPresignClient(srv.Client()).PresignPutObject(ctx(t), &s3.PutObjectInput{
		Bucket:        aws.String(srv.Bucket),
		Key:           aws.String(key),
		ContentType:   aws.String("application/json"),
		ContentLength: aws.Int64(length),
	}, s3.WithPresignExpires(5*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	hreq, err := http.NewRequestWithContext(ctx(t), req.Method, req.URL, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for name, values := range req.SignedHeader {
		if !strings.EqualFold(name, "Host") && !strings.EqualFold(name, "Content-Length") {
			hreq.Header[name] = values
		}
	}
	hreq.ContentLength = int64(len(body)) // what is sent, whatever was signed
	res, err := httpClient.Do(hreq)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return response{res.StatusCode, string(b)}
}

func get(t *testing.T, srv *s3test.Server, key string) []byte {
	t.Helper()
	out, err := srv.Client().GetObject(ctx(t), &s3.GetObjectInput{Bucket: aws.String(srv.Bucket), Key: aws.String(key)})
	if err != nil {
		t.Fatalf("get %s: %v", key, err)
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
