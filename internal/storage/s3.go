package storage

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/credentials/endpointcreds"
)

// S3Config names a bucket and how to reach it.
type S3Config struct {
	Bucket string
	Region string
	// Endpoint is an S3-compatible server's URL; empty for AWS itself.
	Endpoint string
	// PathStyle addresses the bucket in the path, as most S3-compatible servers need.
	PathStyle bool
	// AccessKey and SecretKey, when set, are the credentials; otherwise they come from
	// the environment (see credentialsFor).
	AccessKey, SecretKey string
}

// S3 keeps objects in a bucket. Clients upload with presigned PUTs and read through
// redirects to presigned GETs, so the bucket stays private.
//
// It speaks S3's REST API through net/http, signed with the AWS SDK's Signature Version 4
// signer: five calls (presigned PUT and GET, GET, PUT and DELETE of an object) do not
// need the SDK's S3 client, which would add 1.9 MB to the compressed image and break its
// 15 MB budget.
type S3 struct {
	creds   aws.CredentialsProvider
	signer  *v4.Signer
	region  string
	base    *url.URL // the bucket's URL, objects under it
	client  *http.Client
	nowFunc func() time.Time
}

// NewS3 returns a store on cfg's bucket.
func NewS3(_ context.Context, cfg S3Config) (*S3, error) {
	creds, err := credentialsFor(cfg, os.Getenv)
	if err != nil {
		return nil, err
	}
	if cfg.Bucket == "" || cfg.Region == "" {
		return nil, errors.New("storage: S3 needs a bucket and a region")
	}
	var raw string
	switch {
	case cfg.Endpoint == "":
		raw = "https://" + cfg.Bucket + ".s3." + cfg.Region + ".amazonaws.com/"
	case cfg.PathStyle:
		raw = strings.TrimRight(cfg.Endpoint, "/") + "/" + cfg.Bucket + "/"
	default:
		u, err := url.Parse(cfg.Endpoint)
		if err != nil {
			return nil, fmt.Errorf("storage: S3 endpoint: %w", err)
		}
		u.Host = cfg.Bucket + "." + u.Host
		raw = strings.TrimRight(u.String(), "/") + "/"
	}
	base, err := url.Parse(raw)
	if err != nil || base.Host == "" {
		return nil, fmt.Errorf("storage: S3 endpoint %q is not a URL", cfg.Endpoint)
	}
	return &S3{creds: aws.NewCredentialsCache(creds), signer: v4.NewSigner(), region: cfg.Region, base: base,
		client: &http.Client{Timeout: 30 * time.Second}, nowFunc: time.Now}, nil
}

// The payload hashes S3 accepts: for a presigned URL, whose body the signer never sees,
// and for a request without a body.
const (
	unsignedPayload = "UNSIGNED-PAYLOAD"
	emptyPayload    = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
)

// objectURL is key's URL; keys are made by this package (prefix and token), never
// needing escapes.
func (s *S3) objectURL(key string) string { return s.base.String() + key }

// presign signs method on key for until, with headers, which the client must send.
func (s *S3) presign(ctx context.Context, method, key string, until time.Time, headers http.Header, size int64) (string, http.Header, error) {
	req, err := http.NewRequestWithContext(ctx, method, s.objectURL(key), nil)
	if err != nil {
		return "", nil, err
	}
	req.Header = headers
	req.ContentLength = size
	q := req.URL.Query()
	q.Set("X-Amz-Expires", strconv.FormatInt(int64(until.Sub(s.nowFunc())/time.Second), 10))
	req.URL.RawQuery = q.Encode()
	creds, err := s.creds.Retrieve(ctx)
	if err != nil {
		return "", nil, fmt.Errorf("storage: AWS credentials: %w", err)
	}
	return s.signer.PresignHTTP(ctx, creds, req, unsignedPayload, "s3", s.region, s.nowFunc())
}

// do sends a signed request for key and returns the response, whose body the caller
// closes.
func (s *S3) do(ctx context.Context, method, key string, body []byte, headers http.Header) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, s.objectURL(key), bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	for k, v := range headers {
		req.Header[k] = v
	}
	req.ContentLength = int64(len(body))
	if body == nil {
		req.Body, req.GetBody = http.NoBody, nil
	}
	hash := emptyPayload
	if len(body) > 0 {
		sum := sha256.Sum256(body)
		hash = hex.EncodeToString(sum[:])
	}
	req.Header.Set("X-Amz-Content-Sha256", hash)
	creds, err := s.creds.Retrieve(ctx)
	if err != nil {
		return nil, fmt.Errorf("storage: AWS credentials: %w", err)
	}
	if err := s.signer.SignHTTP(ctx, creds, req, hash, "s3", s.region, s.nowFunc()); err != nil {
		return nil, fmt.Errorf("storage: sign: %w", err)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("storage: %s %s: %w", method, key, err)
	}
	return resp, nil
}

// failed is the error of an unexpected answer.
func failed(resp *http.Response, method, key string) error {
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	return fmt.Errorf("storage: %s %s: %s: %s", method, key, resp.Status, bytes.TrimSpace(msg))
}

// PresignPut signs a PUT of exactly size bytes of contentType: S3 refuses any other.
func (s *S3) PresignPut(ctx context.Context, key, contentType string, size int64, expires time.Time) (Upload, error) {
	signedURL, signed, err := s.presign(ctx, http.MethodPut, key, expires, http.Header{"Content-Type": {contentType}}, size)
	if err != nil {
		return Upload{}, fmt.Errorf("storage: presign: %w", err)
	}
	headers := map[string]string{}
	for name, vs := range signed {
		// The HTTP client sets Host and Content-Length itself.
		if name := http.CanonicalHeaderKey(name); len(vs) > 0 && name != "Host" && name != "Content-Length" {
			headers[name] = vs[0]
		}
	}
	return Upload{URL: signedURL, Method: http.MethodPut, Headers: headers}, nil
}

// Read gets the object.
func (s *S3) Read(ctx context.Context, key string, max int64) ([]byte, error) {
	resp, err := s.do(ctx, http.MethodGet, key, nil, nil)
	if err != nil {
		return nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	switch {
	case resp.StatusCode == http.StatusNotFound:
		return nil, ErrNotFound
	case resp.StatusCode != http.StatusOK:
		return nil, failed(resp, "GET", key)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, max+1))
	if err != nil {
		return nil, fmt.Errorf("storage: read %s: %w", key, err)
	}
	if int64(len(data)) > max {
		return nil, ErrTooLarge
	}
	return data, nil
}

// Write puts the object.
func (s *S3) Write(ctx context.Context, key, contentType string, data []byte) error {
	resp, err := s.do(ctx, http.MethodPut, key, data, http.Header{
		"Content-Type": {contentType}, "Cache-Control": {assetCacheControl},
	})
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return failed(resp, "PUT", key)
	}
	return nil
}

// Delete deletes the objects, one request each.
func (s *S3) Delete(ctx context.Context, keys ...string) error {
	for _, k := range keys {
		resp, err := s.do(ctx, http.MethodDelete, k, nil, nil)
		if err != nil {
			return err
		}
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusNoContent && resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusNotFound {
			return failed(resp, "DELETE", k)
		}
	}
	return nil
}

// serveFor is how long a redirect to an object stays valid.
const serveFor = 15 * time.Minute

// Serve redirects to a presigned GET of the object; browsers may reuse the redirect for
// a while, less than it is valid.
func (s *S3) Serve(w http.ResponseWriter, r *http.Request, key string) {
	signedURL, _, err := s.presign(r.Context(), http.MethodGet, key, s.nowFunc().Add(serveFor), http.Header{}, 0)
	if err != nil {
		http.Error(w, "storage unavailable", http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Cache-Control", "private, max-age=600")
	http.Redirect(w, r, signedURL, http.StatusFound)
}

// ecsCredentialsHost serves an ECS task's role credentials at the relative URI the
// container is given.
const ecsCredentialsHost = "http://169.254.170.2"

// credentialsFor picks the credentials: cfg's keys; else AWS_ACCESS_KEY_ID and
// AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN); else the ECS task role (the container
// credentials endpoint, as on Fargate). The SDK's whole default chain (shared config
// files, SSO, web identity) would more than double the S3 client's share of the image
// (see the README's image budget), and a container on AWS needs none of it.
func credentialsFor(cfg S3Config, getenv func(string) string) (aws.CredentialsProvider, error) {
	switch {
	case cfg.AccessKey != "":
		return credentials.NewStaticCredentialsProvider(cfg.AccessKey, cfg.SecretKey, ""), nil
	case getenv("AWS_ACCESS_KEY_ID") != "":
		return credentials.NewStaticCredentialsProvider(getenv("AWS_ACCESS_KEY_ID"), getenv("AWS_SECRET_ACCESS_KEY"),
			getenv("AWS_SESSION_TOKEN")), nil
	case getenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI") != "":
		return endpointcreds.New(ecsCredentialsHost + getenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI")), nil
	case getenv("AWS_CONTAINER_CREDENTIALS_FULL_URI") != "":
		token := getenv("AWS_CONTAINER_AUTHORIZATION_TOKEN")
		return endpointcreds.New(getenv("AWS_CONTAINER_CREDENTIALS_FULL_URI"), func(o *endpointcreds.Options) {
			if token != "" {
				o.AuthorizationToken = token
			}
		}), nil
	}
	return nil, errors.New("storage: no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, " +
		"or run with an ECS task role")
}
