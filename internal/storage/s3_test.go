package storage

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/credentials/endpointcreds"
)

func TestCredentialsFor(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	for _, tc := range []struct {
		name    string
		cfg     S3Config
		env     map[string]string
		want    string // "static:<key>", "ecs", or "" for an error
		session string
	}{
		{"keys in the configuration win", S3Config{AccessKey: "cfg", SecretKey: "s"}, map[string]string{"AWS_ACCESS_KEY_ID": "env"}, "static:cfg", ""},
		{"keys in the environment", S3Config{}, map[string]string{"AWS_ACCESS_KEY_ID": "env", "AWS_SECRET_ACCESS_KEY": "s",
			"AWS_SESSION_TOKEN": "tok", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": "/v2/x"}, "static:env", "tok"},
		{"an ECS task role", S3Config{}, map[string]string{"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": "/v2/credentials/abc"}, "ecs", ""},
		{"a full credentials URI", S3Config{}, map[string]string{"AWS_CONTAINER_CREDENTIALS_FULL_URI": "http://127.0.0.1:9/creds"}, "ecs", ""},
		{"none", S3Config{}, nil, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := credentialsFor(tc.cfg, env(tc.env))
			switch got := p.(type) {
			case credentials.StaticCredentialsProvider:
				c, _ := got.Retrieve(context.Background())
				if tc.want != "static:"+c.AccessKeyID || c.SessionToken != tc.session {
					t.Fatalf("static %q session %q, want %s session %q", c.AccessKeyID, c.SessionToken, tc.want, tc.session)
				}
			case *endpointcreds.Provider:
				if tc.want != "ecs" {
					t.Fatalf("the ECS provider, want %s", tc.want)
				}
			case nil:
				if tc.want != "" || err == nil {
					t.Fatalf("no provider (%v), want %s", err, tc.want)
				}
			default:
				t.Fatalf("provider %T", got)
			}
		})
	}
}

func TestValidToken(t *testing.T) {
	for tok, want := range map[string]bool{
		"abcdefghijklmnopqrstuvwxyzABCDEF": true, "../../etc/passwd-aaaaaaaaaaaa": false, "short": false,
		"with/slash-aaaaaaaaaaaaaaaaaaaa": false, "": false,
	} {
		if ValidToken(tok) != want {
			t.Errorf("ValidToken(%q) = %v, want %v", tok, !want, want)
		}
	}
}

func TestS3BucketURL(t *testing.T) {
	for _, tc := range []struct {
		cfg  S3Config
		want string
	}{
		{S3Config{Bucket: "b", Region: "eu-west-1"}, "https://b.s3.eu-west-1.amazonaws.com/assets/x"},
		{S3Config{Bucket: "b", Region: "us-east-1", Endpoint: "http://127.0.0.1:9000/", PathStyle: true}, "http://127.0.0.1:9000/b/assets/x"},
		{S3Config{Bucket: "b", Region: "us-east-1", Endpoint: "https://objects.example.com"}, "https://b.objects.example.com/assets/x"},
	} {
		tc.cfg.AccessKey, tc.cfg.SecretKey = "k", "s"
		s, err := NewS3(context.Background(), tc.cfg)
		if err != nil {
			t.Fatal(err)
		}
		if got := s.objectURL("assets/x"); got != tc.want {
			t.Errorf("%+v: %s, want %s", tc.cfg, got, tc.want)
		}
	}
	if _, err := NewS3(context.Background(), S3Config{Region: "r", AccessKey: "k"}); err == nil {
		t.Error("no bucket: no error")
	}
}
