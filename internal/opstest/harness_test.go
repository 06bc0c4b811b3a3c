//go:build opstest

package opstest

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"text/template"
	"time"

	_ "github.com/lib/pq"

	"inkwell/internal/localnginx"
	"inkwell/internal/localpg"
)

// The environment shared by every test: one inkwell binary and one PostgreSQL, which a
// test may stop and start again on the same port.
var (
	binary     string
	signingKey string
	pg         *database
)

func TestMain(m *testing.M) { os.Exit(run(m)) }

func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "inkwell-opstest-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	binary = filepath.Join(dir, "inkwell")
	build := exec.Command("go", "build", "-o", binary, "inkwell/cmd/inkwell")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build inkwell:", err)
		return 1
	}
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	signingKey = hex.EncodeToString(key)
	pg = &database{dir: filepath.Join(dir, "postgres")}
	if err := pg.Start(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer func() { _ = pg.Stop() }()
	return m.Run()
}

// database is the local PostgreSQL, restartable on its port.
type database struct {
	dir  string
	mu   sync.Mutex
	srv  *localpg.Server
	port int
}

func (d *database) Start() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	srv, err := localpg.Start(ctx, localpg.Options{Dir: d.dir, Port: d.port})
	if err != nil {
		return err
	}
	u, err := url.Parse(srv.URL("postgres"))
	if err != nil {
		return err
	}
	d.port, _ = strconv.Atoi(u.Port())
	d.srv = srv
	return nil
}

func (d *database) Stop() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.srv == nil {
		return nil
	}
	err := d.srv.Stop()
	d.srv = nil
	return err
}

func (d *database) URL(name string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", d.port, name)
}

// newDatabase creates an empty database for one test; the first instance migrates it.
func newDatabase(t *testing.T) string {
	t.Helper()
	name := "ops_" + strings.ToLower(strings.NewReplacer("/", "_", " ", "_").Replace(t.Name()))
	db, err := sql.Open("postgres", pg.URL("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("CREATE DATABASE " + name); err != nil {
		t.Fatal(err)
	}
	return pg.URL(name)
}

func freePort(t *testing.T) int {
	t.Helper()
	port, err := localpg.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	return port
}

// instance is one `inkwell serve` process.
type instance struct {
	port int
	cmd  *exec.Cmd
	done chan struct{}
	err  error // the exit status, once done is closed
	log  string
}

// startInstance starts inkwell serve on port over dsn and waits until /readyz is 200.
func startInstance(t *testing.T, port int, dsn string, env ...string) *instance {
	t.Helper()
	i := &instance{port: port, done: make(chan struct{})}
	i.log = filepath.Join(t.TempDir(), fmt.Sprintf("inkwell-%d.log", port))
	out, err := os.Create(i.log)
	if err != nil {
		t.Fatal(err)
	}
	i.cmd = exec.Command(binary, "serve")
	i.cmd.Env = append([]string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + t.TempDir(),
		"DATABASE_URL=" + dsn,
		"INKWELL_ADDR=" + fmt.Sprintf("127.0.0.1:%d", port),
		"INKWELL_SIGNING_KEY=" + signingKey,
		"INKWELL_DATA_DIR=" + t.TempDir(),
		"INKWELL_DEMO_DATA=false",
		"INKWELL_PLAYGROUND=false",
		// The load runs write through a few accounts far faster than a person does; the
		// per-account write budget is tested in internal/app (TestWriteRateLimit).
		"INKWELL_RATE_WRITE=off",
	}, env...)
	i.cmd.Stdout, i.cmd.Stderr = out, out
	if err := i.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		i.err = i.cmd.Wait()
		out.Close()
		close(i.done)
	}()
	t.Cleanup(func() {
		i.kill()
		if t.Failed() {
			b, _ := os.ReadFile(i.log)
			t.Logf("log of the instance on port %d, but for its requests:\n%s", port, notable(b, 60))
		}
	})
	i.waitReady(t, 30*time.Second)
	return i
}

// notable returns the last n lines of an instance's log that are not the access log of
// a request (thousands of them under load, which would hide what went wrong), and how
// many were left out.
func notable(log []byte, n int) string {
	var kept []string
	skipped := 0
	for _, line := range strings.Split(strings.TrimSpace(string(log)), "\n") {
		if strings.Contains(line, `"msg":"http request"`) {
			skipped++
			continue
		}
		kept = append(kept, line)
	}
	if len(kept) > n {
		skipped += len(kept) - n
		kept = kept[len(kept)-n:]
	}
	return fmt.Sprintf("(%d lines left out)\n%s", skipped, strings.Join(kept, "\n"))
}

func (i *instance) base() string { return fmt.Sprintf("http://127.0.0.1:%d", i.port) }

func (i *instance) waitReady(t *testing.T, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		// Ready only once this process says it listens: another server on the port
		// would answer /readyz too.
		if i.listening() && readyz(i.base()) == http.StatusOK {
			return
		}
		select {
		case <-i.done:
			t.Fatalf("instance on port %d exited while starting: %v", i.port, i.err)
		case <-time.After(100 * time.Millisecond):
		}
	}
	t.Fatalf("instance on port %d not ready within %s", i.port, timeout)
}

// listening reports whether the instance logged that it serves.
func (i *instance) listening() bool {
	b, _ := os.ReadFile(i.log)
	return bytes.Contains(b, []byte(`"msg":"serving"`))
}

// stop sends sig and waits for the exit, returning its code.
func (i *instance) stop(t *testing.T, sig syscall.Signal, timeout time.Duration) int {
	t.Helper()
	_ = i.cmd.Process.Signal(sig)
	select {
	case <-i.done:
	case <-time.After(timeout):
		t.Fatalf("instance on port %d still running %s after %v", i.port, timeout, sig)
	}
	var exit *exec.ExitError
	if errors.As(i.err, &exit) {
		return exit.ExitCode()
	}
	return 0
}

func (i *instance) kill() {
	select {
	case <-i.done:
	default:
		_ = i.cmd.Process.Kill()
		<-i.done
	}
}

// readyz returns the status of base's /readyz, or 0 when it did not answer in 3s.
func readyz(base string) int {
	c := http.Client{Timeout: 3 * time.Second}
	resp, err := c.Get(base + "/readyz")
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

// proxy is nginx in front of the instances, with a configuration of the tests' own.
type proxy struct {
	port      int
	dir       string
	upstreams []int
	ng        *localnginx.Nginx
}

// retried counts the upstream attempts nginx logged as failed and passed to the other
// instance: refused connections, and the rest (resets, early closes).
func (p *proxy) retried() (refused, other int) {
	b, _ := os.ReadFile(filepath.Join(p.dir, "error.log"))
	for line := range strings.SplitSeq(string(b), "\n") {
		switch {
		case strings.Contains(line, "Connection refused"):
			refused++
		case strings.Contains(line, "upstream"):
			other++
		}
	}
	return refused, other
}

// nginxConf follows deploy/nginx/nginx.conf with both instances active (a rolling
// deploy rather than blue/green). max_fails=0: the instances' 503s (database down,
// load shed) are retried on the other instance but do not mark it failed, which would
// turn them into nginx's own 502 once both are marked; a stopped or killed instance costs
// one refused connection, which nginx retries on the other for every method, the request
// never having been sent. keepalive_timeout is shorter than the instances' shutdown
// delay, so no idle upstream connection is left for the final shutdown to close under a
// request nginx is just sending.
var nginxConf = template.Must(template.New("nginx").Parse(`
worker_processes 1;
pid {{.Dir}}/nginx.pid;
error_log {{.Dir}}/error.log warn;
{{if .Root}}user root;{{end}}
events { worker_connections 4096; }
http {
    access_log {{.Dir}}/access.log;
    client_body_temp_path {{.Dir}}/body;
    proxy_temp_path {{.Dir}}/proxy;
    fastcgi_temp_path {{.Dir}}/fastcgi;
    uwsgi_temp_path {{.Dir}}/uwsgi;
    scgi_temp_path {{.Dir}}/scgi;
    upstream inkwell {
{{range .Upstreams}}        server 127.0.0.1:{{.Port}} max_fails=0{{if .Down}} down{{end}};
{{end}}        keepalive 32;
        keepalive_timeout 2s;
    }
    server {
        listen 127.0.0.1:{{.Port}};
        client_max_body_size 1m;
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_set_header Host $host;
        proxy_connect_timeout 2s;
        proxy_read_timeout 60s;
        proxy_next_upstream error timeout http_502 http_503 http_504;
        proxy_next_upstream_tries 2;
        proxy_next_upstream_timeout 10s;
        location / {
            proxy_pass http://inkwell;
        }
    }
}
`))

func startProxy(t *testing.T, upstreams ...int) *proxy {
	t.Helper()
	p := &proxy{port: freePort(t), dir: t.TempDir(), upstreams: upstreams}
	ng, err := localnginx.Start(t.Context(), localnginx.Options{
		Dir: p.dir, Addr: fmt.Sprintf("127.0.0.1:%d", p.port), Conf: p.conf(t, 0),
	})
	if err != nil {
		t.Fatal(err)
	}
	p.ng = ng
	t.Cleanup(func() {
		if err := ng.Stop(); err != nil {
			t.Log(err)
		}
		if t.Failed() {
			b, _ := os.ReadFile(filepath.Join(p.dir, "error.log"))
			t.Logf("nginx output:\n%s\nerror.log:\n%s", ng.Output(), b)
		}
	})
	return p
}

func (p *proxy) base() string { return fmt.Sprintf("http://127.0.0.1:%d", p.port) }

type upstream struct {
	Port int
	Down bool
}

// conf is nginx.conf with the instance on port down (0: none down).
func (p *proxy) conf(t *testing.T, down int) string {
	t.Helper()
	ups := make([]upstream, len(p.upstreams))
	for i, port := range p.upstreams {
		ups[i] = upstream{Port: port, Down: port == down}
	}
	var conf bytes.Buffer
	if err := nginxConf.Execute(&conf, map[string]any{
		"Dir": p.dir, "Root": os.Geteuid() == 0, "Upstreams": ups, "Port": p.port,
	}); err != nil {
		t.Fatal(err)
	}
	return conf.String()
}

// setDown takes the instance on port out of rotation (0 puts every instance back) and
// reloads nginx gracefully, as a rolling deploy behind nginx does before it stops an
// instance: new requests go to the others at once, while the old workers finish the
// requests they already sent there. Waiting a moment lets the new workers take over.
func (p *proxy) setDown(t *testing.T, port int) {
	t.Helper()
	if err := p.ng.Reload(p.conf(t, port)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
}

// gqlResponse is what the load generator reads from an answer.
type gqlResponse struct {
	Data   map[string]json.RawMessage `json:"data"`
	Errors []struct {
		Message    string         `json:"message"`
		Extensions map[string]any `json:"extensions"`
	} `json:"errors"`
	Extensions struct {
		// Consistency.LSN is a mutation's log position, for Inkwell-Min-LSN.
		Consistency struct {
			LSN string `json:"lsn"`
		} `json:"consistency"`
	} `json:"extensions"`
}

func (r gqlResponse) code() string {
	if len(r.Errors) == 0 {
		return ""
	}
	c, _ := r.Errors[0].Extensions["code"].(string)
	return c
}

// call sends one operation: a GET for a query (which a proxy may retry), a POST for a
// mutation. It returns the HTTP status (0 on a transport error) and the decoded answer.
func call(c *http.Client, base, token, query string, vars map[string]any, mutation bool) (int, gqlResponse, error) {
	return callAfter(c, base, token, "", query, vars, mutation)
}

// callAfter is call with Inkwell-Min-LSN set to minLSN (none when empty): the reads must
// see the database at least as of that log position.
func callAfter(c *http.Client, base, token, minLSN, query string, vars map[string]any, mutation bool) (int, gqlResponse, error) {
	var req *http.Request
	var err error
	if mutation {
		body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
		req, err = http.NewRequest(http.MethodPost, base+"/graphql", bytes.NewReader(body))
		if err == nil {
			req.Header.Set("Content-Type", "application/json")
		}
	} else {
		q := url.Values{"query": {query}}
		if vars != nil {
			v, _ := json.Marshal(vars)
			q.Set("variables", string(v))
		}
		req, err = http.NewRequest(http.MethodGet, base+"/graphql?"+q.Encode(), nil)
	}
	if err != nil {
		return 0, gqlResponse{}, err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if minLSN != "" {
		req.Header.Set("Inkwell-Min-LSN", minLSN)
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, gqlResponse{}, err
	}
	defer resp.Body.Close()
	var out gqlResponse
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, out, err
	}
	if err := json.Unmarshal(b, &out); err != nil {
		return resp.StatusCode, out, fmt.Errorf("answer is not JSON: %.200s", b)
	}
	return resp.StatusCode, out, nil
}

// users numbers the users signUp makes, so that sign-ups at once get distinct names.
var users atomic.Int64

// signUp makes a user and returns its access token, and an article of it to comment on.
// It may be called from several goroutines.
func signUp(t *testing.T, base string) (token, slug string) {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second}
	name := fmt.Sprintf("ops%d_%d", time.Now().UnixNano()%1e9, users.Add(1))
	status, resp, err := call(c, base, "", `mutation($in: SignUpInput!) { signUp(input: $in) { accessToken } }`,
		map[string]any{"in": map[string]any{"username": name, "email": name + "@example.com", "password": "ops-test-password"}}, true)
	if err != nil || status != http.StatusOK || len(resp.Errors) > 0 {
		t.Fatalf("signUp: %d %v %+v", status, err, resp.Errors)
	}
	var auth struct{ AccessToken string }
	_ = json.Unmarshal(resp.Data["signUp"], &auth)
	status, resp, err = call(c, base, auth.AccessToken, createArticle, map[string]any{"in": map[string]any{
		"title": "ops base " + name, "description": "d", "body": "comments go here",
	}}, true)
	if err != nil || status != http.StatusOK || len(resp.Errors) > 0 {
		t.Fatalf("createArticle: %d %v %+v", status, err, resp.Errors)
	}
	var created struct{ Article struct{ Slug string } }
	_ = json.Unmarshal(resp.Data["createArticle"], &created)
	return auth.AccessToken, created.Article.Slug
}

const (
	readArticles  = `query Articles { articles(first: 5) { nodes { slug title author { username } } totalCount } }`
	createArticle = `mutation($in: CreateArticleInput!) { createArticle(input: $in) { article { slug title } } }`
	addComment    = `mutation($in: AddCommentInput!) { addComment(input: $in) { comment { id body } } }`
)

// outcome is one request of a load run.
type outcome struct {
	write   bool
	status  int
	code    string // extensions.code of the first error
	err     error  // transport or decoding error
	latency time.Duration
	at      time.Duration // since the start of the run
	acked   string        // a write's unique text, when acknowledged
	table   string        // where that text must be: articles.title or comments.body
}

func (o outcome) ok() bool { return o.err == nil && o.status == http.StatusOK && o.code == "" }

// coded503 reports a refusal that tells the client to come back: the database is
// unavailable, or the instance sheds load.
func (o outcome) coded503() bool {
	return o.err == nil && o.status == http.StatusServiceUnavailable &&
		(o.code == "DATABASE_UNAVAILABLE" || o.code == "OVERLOADED")
}

// loadRun is a bounded load of reads and writes through base.
type loadRun struct {
	readers, writers int
	duration         time.Duration
	base, token      string
	slug             string
	tag              string
	// freshConns opens a connection to the proxy per request. A graceful nginx reload
	// closes its old workers' idle client connections, and a POST written on one just as
	// it closes fails on the client's side (Go's client resends only idempotent
	// requests); that is a property of the proxy's reload, not of the instances.
	freshConns bool
}

func (l loadRun) run() []outcome {
	var (
		mu  sync.Mutex
		out []outcome
		wg  sync.WaitGroup
	)
	start := time.Now()
	stop := start.Add(l.duration)
	client := &http.Client{
		Timeout:   30 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: l.readers + l.writers, DisableKeepAlives: l.freshConns},
	}
	record := func(o outcome) {
		mu.Lock()
		out = append(out, o)
		mu.Unlock()
	}
	for r := range l.readers {
		wg.Go(func() {
			_ = r
			for time.Now().Before(stop) {
				t0 := time.Now()
				status, resp, err := call(client, l.base, "", readArticles, nil, false)
				o := outcome{status: status, code: resp.code(), err: err, latency: time.Since(t0), at: t0.Sub(start)}
				if o.ok() && resp.Data["articles"] == nil {
					o.err = errors.New("no data")
				}
				record(o)
			}
		})
	}
	for w := range l.writers {
		wg.Go(func() {
			for n := 0; time.Now().Before(stop); n++ {
				text := fmt.Sprintf("%s w%d n%d", l.tag, w, n)
				query, field, table := addComment, "addComment", "comments.body"
				in := map[string]any{"articleSlug": l.slug, "body": text}
				if n%2 == 0 {
					query, field, table = createArticle, "createArticle", "articles.title"
					in = map[string]any{"title": text, "description": "load", "body": "written under load"}
				}
				t0 := time.Now()
				status, resp, err := call(client, l.base, l.token, query, map[string]any{"in": in}, true)
				o := outcome{write: true, status: status, code: resp.code(), err: err, latency: time.Since(t0), at: t0.Sub(start), table: table}
				if o.ok() {
					if resp.Data[field] == nil || string(resp.Data[field]) == "null" {
						o.err = errors.New("no data")
					} else {
						o.acked = text
					}
				}
				record(o)
			}
		})
	}
	wg.Wait()
	return out
}

// figures summarises a run for the log.
type figures struct {
	Requests, Failed, Reads, ReadsFailed, Writes, WritesFailed, Acked int
	ByStatus                                                          map[string]int
	MaxLatency                                                        time.Duration
}

func summarise(out []outcome) figures {
	f := figures{ByStatus: map[string]int{}}
	for _, o := range out {
		f.Requests++
		key := strconv.Itoa(o.status)
		if o.code != "" {
			key += " " + o.code
		}
		if o.err != nil {
			key += " error"
		}
		f.ByStatus[key]++
		f.MaxLatency = max(f.MaxLatency, o.latency)
		if o.write {
			f.Writes++
		} else {
			f.Reads++
		}
		if !o.ok() {
			f.Failed++
			if o.write {
				f.WritesFailed++
			} else {
				f.ReadsFailed++
			}
		}
		if o.acked != "" {
			f.Acked++
		}
	}
	return f
}

func (f figures) String() string {
	return fmt.Sprintf("requests %d (reads %d, writes %d), failed %d (reads %d, writes %d), writes acknowledged %d, max latency %s, by status %v",
		f.Requests, f.Reads, f.Writes, f.Failed, f.ReadsFailed, f.WritesFailed, f.Acked, f.MaxLatency.Round(time.Millisecond), f.ByStatus)
}

// checkAcked asserts that every acknowledged write is in the database, and returns how
// many were found.
func checkAcked(t *testing.T, dsn string, out []outcome) int {
	t.Helper()
	db, err := sql.Open("postgres", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	present := map[string]bool{}
	for _, q := range []string{`SELECT title FROM articles`, `SELECT body FROM comments`} {
		var texts []string
		if err := scanStrings(db, q, &texts); err != nil {
			t.Fatal(err)
		}
		for _, s := range texts {
			present[s] = true
		}
	}
	found := 0
	for _, o := range out {
		if o.acked == "" {
			continue
		}
		if present[o.acked] {
			found++
		} else {
			t.Errorf("acknowledged write %q (%s) is not in the database", o.acked, o.table)
		}
	}
	return found
}

func scanStrings(db *sql.DB, query string, out *[]string) error {
	rows, err := db.Query(query)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return err
		}
		*out = append(*out, s)
	}
	return rows.Err()
}

// failures lists the first few failed requests, for the log.
func failures(out []outcome, n int) string {
	var b strings.Builder
	for _, o := range out {
		if o.ok() || n == 0 {
			continue
		}
		n--
		fmt.Fprintf(&b, "\n  at %s write=%v status=%d code=%s err=%v latency=%s", o.at.Round(time.Millisecond), o.write, o.status, o.code, o.err, o.latency.Round(time.Millisecond))
	}
	return b.String()
}
