// Package s3test runs a real S3-compatible server for tests: SeaweedFS's `weed server`,
// on loopback ports, with a bucket of its own for each caller.
//
// Starting weed takes a few seconds, so a test binary shares one server: the first
// Start launches it, later calls reuse it and get a fresh bucket each. A package that
// uses it stops the server after its tests with
//
//	func TestMain(m *testing.M) {
//		code := m.Run()
//		s3test.StopAll()
//		os.Exit(code)
//	}
//
// Without that the server still dies with the test binary (on Linux: the kernel kills it),
// and the next Start, in any test binary, removes the temporary folder it left.
//
// The weed binary is $INKWELL_WEED if set, else what the repository's
// .ci/install-seaweedfs prints (it builds weed the first time; `make seaweedfs` runs it).
package s3test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"inkwell/internal/localpg"
	"inkwell/internal/reporoot"
)

// EnvWeed names the environment variable that, when set, is the weed binary to run.
const EnvWeed = "INKWELL_WEED"

const (
	region       = "us-east-1"
	readyTimeout = 60 * time.Second
	stopTimeout  = 5 * time.Second
	attempts     = 3 // launches tried when weed exits early, e.g. a picked port was taken

	// minFreeSpace is the free disk space below which weed stops writing (its volumes
	// turn read-only).
	minFreeSpace = "64MiB"
)

// Server is a running S3-compatible server on loopback with one bucket.
type Server struct {
	Endpoint  string // http://127.0.0.1:PORT
	Region    string // "us-east-1"
	Bucket    string
	AccessKey string
	SecretKey string
}

// Client returns an S3 client for s, path-style and with s's credentials.
func (s *Server) Client() *s3.Client {
	return newClient(s.Endpoint, s.AccessKey, s.SecretKey, 0)
}

// Start returns a fresh bucket, made for t, on the test binary's throw-away weed.
// The first call starts the server (a few seconds) and later calls share it; the server
// runs until StopAll, or until the test binary exits. The bucket and what is in it are
// deleted when t ends. Start fails t if the server cannot be started, and so do later
// calls, without trying again.
func Start(t testing.TB) *Server {
	t.Helper()
	p, err := shared(t)
	if err != nil {
		t.Fatalf("s3test: %v", err)
	}
	bucket := "t-" + strconv.FormatInt(buckets.Add(1), 10) + "-" + randomHex(4)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := p.client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatalf("s3test: create bucket %s: %v%s", bucket, err, p.logTail())
	}
	t.Cleanup(func() {
		// The server runs with -s3.allowDeleteBucketNotEmpty, so this drops the objects
		// and the bucket's volumes too, which keeps a long test run within -volume.max.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := p.client.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String(bucket)}); err != nil {
			t.Logf("s3test: delete bucket %s: %v", bucket, err)
		}
	})
	return &Server{
		Endpoint:  p.endpoint,
		Region:    region,
		Bucket:    bucket,
		AccessKey: p.accessKey,
		SecretKey: p.secretKey,
	}
}

// StopAll stops the server Start started, if any, and removes its folder. A later
// Start starts a new one.
func StopAll() {
	mu.Lock()
	defer mu.Unlock()
	if current != nil {
		current.stop()
	}
	current, startErr = nil, nil
}

var (
	mu       sync.Mutex
	current  *process // the running server, once started
	startErr error    // why the first start failed; later calls fail alike
	buckets  atomic.Int64
)

// shared returns the running server, starting it on first use.
func shared(t testing.TB) (*process, error) {
	t.Helper()
	mu.Lock()
	defer mu.Unlock()
	if current != nil || startErr != nil {
		return current, startErr
	}
	start := time.Now()
	current, startErr = launch(t)
	if startErr == nil {
		t.Logf("s3test: weed ready at %s in %v", current.endpoint, time.Since(start).Round(time.Millisecond))
	}
	return current, startErr
}

// process is one running weed server.
type process struct {
	cmd       *exec.Cmd
	dir       string
	logPath   string
	done      chan struct{} // closed once cmd has exited
	exitErr   error         // cmd.Wait's, valid once done is closed
	stopOnce  sync.Once
	endpoint  string
	accessKey string
	secretKey string
	client    *s3.Client
}

func launch(t testing.TB) (*process, error) {
	t.Helper()
	bin, err := weedBinary(t)
	if err != nil {
		return nil, err
	}
	var p *process
	for i := 1; i <= attempts; i++ {
		p, err = launchOnce(bin)
		if err == nil {
			return p, nil
		}
		// Ports are picked free, but another process may take one before weed binds it.
		if !errors.Is(err, errExited) || !portTaken(err.Error()) || i == attempts {
			break
		}
		t.Logf("s3test: a port was taken while weed started, trying again with others: %v", err)
	}
	return nil, err
}

var errExited = errors.New("weed exited before it was ready")

// portTaken tells whether weed's error says a port was in use.
func portTaken(msg string) bool {
	return strings.Contains(msg, "address already in use")
}

func launchOnce(bin string) (_ *process, err error) {
	reapStale()
	dir, err := os.MkdirTemp("", dirPrefix)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			removeSockets(filepath.Join(dir, "weed.log"))
			os.RemoveAll(dir)
		}
	}()
	data := filepath.Join(dir, "data")
	if err := os.Mkdir(data, 0o700); err != nil {
		return nil, err
	}
	p := &process{
		dir:       dir,
		done:      make(chan struct{}),
		accessKey: "AK" + strings.ToUpper(randomHex(9)),
		secretKey: randomHex(20),
		logPath:   filepath.Join(dir, "weed.log"),
	}
	conf, err := json.Marshal(map[string]any{"identities": []any{map[string]any{
		"name":        "inkwell",
		"credentials": []any{map[string]string{"accessKey": p.accessKey, "secretKey": p.secretKey}},
		"actions":     []string{"Admin", "Read", "Write", "List", "Tagging"},
	}}})
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "s3.json"), conf, 0o600); err != nil {
		return nil, err
	}
	// Grow one volume per bucket on its first write, not seven: each bucket is a
	// collection of its own, and growing seven volumes slows every test's first write.
	growth := "[master.volume_growth]\ncopy_1 = 1\ncopy_2 = 1\ncopy_3 = 1\ncopy_other = 1\n"
	if err := os.WriteFile(filepath.Join(dir, "master.toml"), []byte(growth), 0o600); err != nil {
		return nil, err
	}
	names := []string{"s3", "s3.grpc", "master", "master.grpc", "volume", "volume.grpc",
		"filer", "filer.grpc"}
	ports, err := freePorts(len(names))
	if err != nil {
		return nil, err
	}
	byName := make(map[string]int, len(names))
	for i, n := range names {
		byName[n] = ports[i]
	}
	p.endpoint = "http://127.0.0.1:" + strconv.Itoa(byName["s3"])

	port := func(flag, name string) string { return "-" + flag + "=" + strconv.Itoa(byName[name]) }
	// `weed server` rather than `weed mini`: mini fixes the volume server's minimum free
	// disk space at 1% of the disk, and below it every volume turns read-only, so writes
	// hang and fail with 500 InternalError. On a large disk shared with other work, 1% is
	// gigabytes that are not always free; the few kilobytes these tests write need
	// far less.
	args := []string{
		"-logtostderr", // glog writes to /tmp/weed.* otherwise
		"-config_dir=" + dir,
		"server",
		"-dir=" + data,
		"-ip=127.0.0.1",
		"-ip.bind=127.0.0.1",
		port("master.port", "master"), port("master.port.grpc", "master.grpc"),
		port("volume.port", "volume"), port("volume.port.grpc", "volume.grpc"),
		"-filer", port("filer.port", "filer"), port("filer.port.grpc", "filer.grpc"),
		"-s3", port("s3.port", "s3"), port("s3.port.grpc", "s3.grpc"),
		"-s3.port.iceberg=0",
		"-s3.port.lance=0",
		"-s3.config=" + filepath.Join(dir, "s3.json"),
		"-s3.allowDeleteBucketNotEmpty",
		"-master.telemetry=false",
		"-master.volumeSizeLimitMB=64",
		"-volume.max=1000", // one per bucket written to; a bound only, nothing is preallocated
		"-volume.minFreeSpace=" + minFreeSpace,
		"-volume.preStopSeconds=0", // nothing to drain; stop at once
	}
	// Unix sockets are limited to about 108 bytes; keep weed's default for a long TMPDIR.
	if sock := filepath.Join(dir, "filer.sock"); len(sock) < 100 {
		args = append(args, "-filer.localSocket="+sock, "-s3.localSocket="+filepath.Join(dir, "s3.sock"))
	}

	logFile, err := os.Create(p.logPath)
	if err != nil {
		return nil, err
	}
	defer logFile.Close() // the child has its own copy
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Env = weedEnv()
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = sysProcAttr()
	p.cmd = cmd
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	go func() {
		p.exitErr = cmd.Wait()
		close(p.done)
	}()
	owner := fmt.Sprintf("%d %d\n", os.Getpid(), cmd.Process.Pid)
	if err := os.WriteFile(filepath.Join(dir, "owner"), []byte(owner), 0o600); err != nil {
		p.kill()
		return nil, err
	}
	if err := p.waitReady(); err != nil {
		p.kill()
		return nil, fmt.Errorf("%w%s", err, p.logTail()) // the deferred cleanup removes dir
	}
	p.client = newClient(p.endpoint, p.accessKey, p.secretKey, 0)
	return p, nil
}

// waitReady polls until weed takes a write, weed exits, or readyTimeout passes. Listing
// buckets works seconds before a write does: the master defers its first volume and the
// filer joins the cluster's lock ring a few seconds after it starts, and until then each
// test's first write would wait instead.
func (p *process) waitReady() error {
	client := newClient(p.endpoint, p.accessKey, p.secretKey, 1)
	deadline := time.Now().Add(readyTimeout)
	probe := "ready-" + randomHex(4)
	created := false
	var last error
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := p.probeWrite(ctx, client, probe, &created)
		cancel()
		if err == nil {
			return nil
		}
		last = err
		select {
		case <-p.done:
			if p.exitErr == nil {
				return fmt.Errorf("%w (exit status 0)", errExited)
			}
			return fmt.Errorf("%w: %w", errExited, p.exitErr)
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("weed not ready after %v (last: %w)", readyTimeout, last)
		}
	}
}

// probeWrite writes an object to bucket (made on the first call that can) and removes
// the bucket again.
func (p *process) probeWrite(ctx context.Context, client *s3.Client, bucket string, created *bool) error {
	if !*created {
		if _, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
			return err
		}
		*created = true
	}
	if _, err := client.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(bucket), Key: aws.String("probe"), Body: strings.NewReader("ok"),
	}); err != nil {
		return err
	}
	_, err := client.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String(bucket)})
	return err
}

// stop ends weed with SIGTERM, then SIGKILL after stopTimeout, and removes its folder.
func (p *process) stop() {
	p.stopOnce.Do(func() {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(stopTimeout):
			p.kill()
		}
		removeSockets(p.logPath)
		os.RemoveAll(p.dir)
	})
}

// dirPrefix starts the name of each server's temporary folder.
const dirPrefix = "inkwell-s3test-"

// reapStale removes the folders left by test binaries that died without StopAll (a
// panic, -timeout, no TestMain): weed died with them, on Linux, but its folder stayed.
// A folder's owner file holds the PIDs of its test binary and its weed; the folder is
// removed only when neither process exists.
func reapStale() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), dirPrefix+"*"))
	for _, dir := range dirs {
		b, err := os.ReadFile(filepath.Join(dir, "owner"))
		if err != nil {
			continue // being made, or not one of ours
		}
		var owner, weed int
		if _, err := fmt.Sscan(string(b), &owner, &weed); err != nil || owner == os.Getpid() || alive(owner) || alive(weed) {
			continue
		}
		removeSockets(filepath.Join(dir, "weed.log"))
		os.RemoveAll(dir)
	}
}

// alive tells whether process pid exists (as far as this PID namespace can tell).
func alive(pid int) bool {
	return pid > 0 && !errors.Is(syscall.Kill(pid, 0), syscall.ESRCH)
}

// removeSockets removes the Unix sockets weed's log says it opened for gRPC, which
// weed always puts in /tmp and removes only when it stops gracefully. A socket
// someone still listens on (a later weed given the same port) is left alone.
func removeSockets(logPath string) {
	f, err := os.Open(logPath)
	if err != nil {
		return
	}
	defer f.Close()
	const marker = "gRPC also listening on Unix socket "
	sc := bufio.NewScanner(io.LimitReader(f, 1<<20)) // they are opened at startup
	for sc.Scan() {
		_, path, ok := strings.Cut(sc.Text(), marker)
		path = strings.TrimSpace(path)
		if !ok || !strings.HasPrefix(path, "/tmp/seaweedfs-") || !strings.HasSuffix(path, ".sock") {
			continue
		}
		c, err := net.DialTimeout("unix", path, time.Second)
		if err == nil {
			_ = c.Close()
			continue
		}
		if errors.Is(err, syscall.ECONNREFUSED) {
			_ = os.Remove(path)
		}
	}
}

// kill ends weed's process group at once and waits for weed to exit.
func (p *process) kill() {
	pid := p.cmd.Process.Pid
	if err := syscall.Kill(-pid, syscall.SIGKILL); err != nil {
		_ = p.cmd.Process.Kill()
	}
	<-p.done
}

// logTail is the end of weed's log, to append to an error message.
func (p *process) logTail() string {
	b, err := os.ReadFile(p.logPath)
	if err != nil {
		return ""
	}
	const limit = 4000
	if len(b) > limit {
		b = b[len(b)-limit:]
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			b = b[i+1:]
		}
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return "\n(weed's log is empty)"
	}
	return fmt.Sprintf("\n--- weed's log (end) ---\n%s", b)
}

func newClient(endpoint, accessKey, secretKey string, maxAttempts int) *s3.Client {
	// A bare aws.Config rather than config.LoadDefaultConfig: the tests must not pick
	// up the developer's AWS_* variables or ~/.aws files.
	cfg := aws.Config{
		Region:      region,
		Credentials: credentials.NewStaticCredentialsProvider(accessKey, secretKey, ""),
	}
	return s3.NewFromConfig(cfg, func(o *s3.Options) {
		o.BaseEndpoint = aws.String(endpoint)
		o.UsePathStyle = true
		if maxAttempts > 0 {
			o.RetryMaxAttempts = maxAttempts
		}
	})
}

// freePorts returns n loopback ports that were free a moment ago, none handed out before
// in this process.
func freePorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	for range n {
		port, err := localpg.FreePort()
		if err != nil {
			return nil, err
		}
		ports = append(ports, port)
	}
	return ports, nil
}

// weedEnv is this process's environment without the variables weed would take
// settings from (WEED_* override its toml files, its S3 gateway reads S3_* and AWS_*).
func weedEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		switch n := strings.ToUpper(name); {
		case strings.HasPrefix(n, "WEED_"), strings.HasPrefix(n, "AWS_"), strings.HasPrefix(n, "S3_"):
			continue
		}
		env = append(env, kv)
	}
	return env
}

// sysProcAttr puts weed in a process group of its own and, on Linux, has the kernel kill
// it when the test binary exits. Pdeathsig exists only on Linux, hence reflection, which
// keeps this package building elsewhere.
func sysProcAttr() *syscall.SysProcAttr {
	attr := &syscall.SysProcAttr{Setpgid: true}
	if f := reflect.ValueOf(attr).Elem().FieldByName("Pdeathsig"); f.IsValid() && f.CanSet() {
		f.Set(reflect.ValueOf(syscall.SIGKILL))
	}
	return attr
}

// weedBinary finds weed: $INKWELL_WEED, else what .ci/install-seaweedfs prints.
func weedBinary(t testing.TB) (string, error) {
	t.Helper()
	hint := "run `make seaweedfs` (or set " + EnvWeed + " to a weed binary)"
	if bin := os.Getenv(EnvWeed); bin != "" {
		if _, err := os.Stat(bin); err != nil {
			return "", fmt.Errorf("%s=%s: %w; point it at a weed binary, or unset it and run `make seaweedfs`", EnvWeed, bin, err)
		}
		return bin, nil
	}
	root, err := reporoot.Find()
	if err != nil {
		return "", fmt.Errorf("finding the weed binary: %w; %s", err, hint)
	}
	script := filepath.Join(root, ".ci", "install-seaweedfs")
	var stdout bytes.Buffer
	stderr := &lineLogger{t: t, prefix: "install-seaweedfs: "}
	cmd := exec.Command(script)
	cmd.Dir = root
	cmd.Stdout, cmd.Stderr = &stdout, stderr
	err = cmd.Run()
	stderr.flush()
	if err != nil {
		return "", fmt.Errorf("%s: %w; %s", script, err, hint)
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	bin := strings.TrimSpace(lines[len(lines)-1])
	if bin == "" {
		return "", fmt.Errorf("%s printed no path; %s", script, hint)
	}
	if _, err := os.Stat(bin); err != nil {
		return "", fmt.Errorf("%s: %w; %s", script, err, hint)
	}
	return bin, nil
}

// lineLogger passes what is written to it to t.Log, a line at a time.
type lineLogger struct {
	t      testing.TB
	prefix string
	buf    []byte
}

func (l *lineLogger) Write(b []byte) (int, error) {
	l.buf = append(l.buf, b...)
	for {
		i := bytes.IndexByte(l.buf, '\n')
		if i < 0 {
			return len(b), nil
		}
		l.t.Log(l.prefix + string(l.buf[:i]))
		l.buf = l.buf[i+1:]
	}
}

func (l *lineLogger) flush() {
	if len(l.buf) > 0 {
		l.t.Log(l.prefix + string(l.buf))
		l.buf = nil
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

var _ io.Writer = (*lineLogger)(nil)
