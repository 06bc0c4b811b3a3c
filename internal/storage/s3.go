package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/credentials/endpointcreds"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
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
type S3 struct {
	client  *s3.Client
	presign *s3.PresignClient
	bucket  string
}

// NewS3 returns a store on cfg's bucket.
func NewS3(_ context.Context, cfg S3Config) (*S3, error) {
	creds, err := credentialsFor(cfg, os.Getenv)
	if err != nil {
		return nil, err
	}
	ac := aws.Config{Region: cfg.Region, Credentials: aws.NewCredentialsCache(creds)}
	client := s3.NewFromConfig(ac, func(o *s3.Options) {
		if cfg.Endpoint != "" {
			o.BaseEndpoint = aws.String(cfg.Endpoint)
		}
		o.UsePathStyle = cfg.PathStyle
	})
	return &S3{client: client, presign: s3.NewPresignClient(client), bucket: cfg.Bucket}, nil
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

// PresignPut signs a PUT of exactly size bytes of contentType: S3 refuses any other.
func (s *S3) PresignPut(ctx context.Context, key, contentType string, size int64, expires time.Time) (Upload, error) {
	req, err := s.presign.PresignPutObject(ctx, &s3.PutObjectInput{
		Bucket: &s.bucket, Key: &key, ContentType: &contentType, ContentLength: &size,
	}, s3.WithPresignExpires(time.Until(expires)))
	if err != nil {
		return Upload{}, fmt.Errorf("storage: presign: %w", err)
	}
	headers := map[string]string{}
	for name, vs := range req.SignedHeader {
		// The HTTP client sets Host (and Content-Length) itself.
		if len(vs) > 0 && http.CanonicalHeaderKey(name) != "Host" {
			headers[http.CanonicalHeaderKey(name)] = vs[0]
		}
	}
	return Upload{URL: req.URL, Method: req.Method, Headers: headers}, nil
}

// Read gets the object.
func (s *S3) Read(ctx context.Context, key string, max int64) ([]byte, error) {
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: &s.bucket, Key: &key})
	if err != nil {
		var missing *types.NoSuchKey
		if errors.As(err, &missing) {
			return nil, ErrNotFound
		}
		return nil, fmt.Errorf("storage: get %s: %w", key, err)
	}
	defer func() { _ = out.Body.Close() }()
	data, err := io.ReadAll(io.LimitReader(out.Body, max+1))
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
	_, err := s.client.PutObject(ctx, &s3.PutObjectInput{
		Bucket: &s.bucket, Key: &key, Body: bytesReader(data), ContentLength: aws.Int64(int64(len(data))),
		ContentType: &contentType, CacheControl: aws.String(assetCacheControl),
	})
	if err != nil {
		return fmt.Errorf("storage: put %s: %w", key, err)
	}
	return nil
}

// Delete deletes the objects, one request each (S3-compatible servers differ in their
// support of batch deletes).
func (s *S3) Delete(ctx context.Context, keys ...string) error {
	for _, k := range keys {
		if _, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &s.bucket, Key: &k}); err != nil {
			return fmt.Errorf("storage: delete %s: %w", k, err)
		}
	}
	return nil
}

// serveFor is how long a redirect to an object stays valid.
const serveFor = 15 * time.Minute

// Serve redirects to a presigned GET of the object; browsers may reuse the redirect for
// a while, less than it is valid.
func (s *S3) Serve(w http.ResponseWriter, r *http.Request, key string) {
	req, err := s.presign.PresignGetObject(r.Context(), &s3.GetObjectInput{Bucket: &s.bucket, Key: &key},
		s3.WithPresignExpires(serveFor))
	if err != nil {
		http.Error(w, "storage unavailable", http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Cache-Control", "private, max-age=600")
	http.Redirect(w, r, req.URL, http.StatusFound)
}
