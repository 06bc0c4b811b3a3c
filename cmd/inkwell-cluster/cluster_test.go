//go:build opstest

package main

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	_ "github.com/lib/pq"
)

// Bounds for a busy 2-core machine: the cluster starts in about a minute when it is
// quiet, and the first instance migrates and loads the demo data.
const (
	readyBound = 8 * time.Minute
	stopBound  = 2 * time.Minute
)

// TestCluster runs the command as make cluster does, uses the API through nginx, checks
// that reads reach the replica, then sends SIGINT and checks that nothing is left: no
// port open, no process, no folder.
func TestCluster(t *testing.T) {
	tmp := t.TempDir()
	inkwell := build(t, tmp, "inkwell", "inkwell/cmd/inkwell")
	self := build(t, tmp, "inkwell-cluster", "inkwell/cmd/inkwell-cluster")
	// Its temporary folder goes here, where the test can look for what is left.
	tmpdir := filepath.Join(tmp, "tmp")
	if err := os.Mkdir(tmpdir, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(self, "-inkwell", inkwell, "-addr", "127.0.0.1:0")
	cmd.Env = append(os.Environ(), "TMPDIR="+tmpdir)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer // read after Wait
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		exited <- cmd.Wait()
	}()
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			_ = cmd.Process.Signal(os.Interrupt)
			select {
			case err := <-exited:
				t.Logf("inkwell-cluster exited: %v", err)
			case <-time.After(stopBound):
				_ = cmd.Process.Kill()
				t.Logf("inkwell-cluster killed: %v", <-exited)
			}
		}
		if t.Failed() {
			t.Logf("standard error of inkwell-cluster:\n%s", stderr.String())
		}
	})

	rows, summary := readSummary(t, lines)
	t.Logf("summary:\n%s", summary)
	api := strings.TrimSuffix(rows["nginx"], "/")
	folder := rows["folder"]
	if api == "" || folder == "" || !strings.HasPrefix(folder, tmpdir) {
		t.Fatalf("the summary names no nginx URL or folder under $TMPDIR: %v", rows)
	}

	// The demo data, through nginx.
	var ada struct{ User *struct{ Username string } }
	gql(t, api, "", `{ user(username: "ada") { username } }`, nil, false, nil, &ada)
	if ada.User == nil {
		t.Error("no demo user ada: the demo data was not loaded")
	}

	// Sign up, write, and read the write back, each request through nginx.
	name := fmt.Sprintf("cluster%d", time.Now().UnixNano()%1e9)
	var signUp struct{ SignUp struct{ AccessToken string } }
	gql(t, api, "", `mutation($in: SignUpInput!) { signUp(input: $in) { accessToken } }`,
		map[string]any{"in": map[string]any{"username": name, "email": name + "@example.com", "password": "cluster-test-password"}}, true, nil, &signUp)
	var created struct {
		CreateArticle struct{ Article struct{ Slug string } }
	}
	ext := gql(t, api, signUp.SignUp.AccessToken, `mutation($in: CreateArticleInput!) { createArticle(input: $in) { article { slug } } }`,
		map[string]any{"in": map[string]any{"title": "Written through the cluster " + name, "description": "d", "body": "Through nginx and PgBouncer."}},
		true, nil, &created)
	lsn := ext.Consistency.LSN
	if created.CreateArticle.Article.Slug == "" || lsn == "" {
		t.Fatalf("createArticle: slug %q, extensions.consistency.lsn %q", created.CreateArticle.Article.Slug, lsn)
	}
	// Anonymous, with the write's position: the read may go to the replica, but must
	// see the write.
	var read struct {
		Article *struct {
			Title  string
			Author struct{ Username string }
		}
	}
	gql(t, api, "", `query($slug: String!) { article(slug: $slug) { title author { username } } }`,
		map[string]any{"slug": created.CreateArticle.Article.Slug}, false, map[string]string{"Inkwell-Min-LSN": lsn}, &read)
	if read.Article == nil || read.Article.Author.Username != name {
		t.Errorf("the article just written, read with Inkwell-Min-LSN %s: %+v", lsn, read.Article)
	}

	checkReplicaReads(t, api, rows)
	checkPooledTimeout(t, rows)

	// SIGINT: everything stops, and the folder goes.
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	select {
	case err := <-exited:
		stopped = true
		if err != nil {
			t.Errorf("inkwell-cluster exited with %v after SIGINT, want 0", err)
		}
	case <-time.After(stopBound):
		t.Fatalf("inkwell-cluster still running %s after SIGINT", stopBound)
	}
	t.Logf("stopped %s after SIGINT", time.Since(began).Round(100*time.Millisecond))
	for name, addr := range addresses(t, rows) {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			_ = c.Close()
			t.Errorf("%s (%s) still accepts connections after SIGINT", name, addr)
		}
	}
	if _, err := os.Stat(folder); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the folder %s is still there after SIGINT (%v)", folder, err)
	}
	if left := processesIn(folder); len(left) > 0 {
		t.Errorf("processes left working in %s:\n%s", folder, strings.Join(left, "\n"))
	}
}

func build(t *testing.T, dir, name, pkg string) string {
	t.Helper()
	out := filepath.Join(dir, name)
	if b, err := exec.Command("go", "build", "-o", out, pkg).CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, b)
	}
	return out
}

// row is a line of the summary's table: two spaces, a name, a URL, a note.
var row = regexp.MustCompile(`^  (\S+)\s+(\S+)\s+(.*)$`)

// readSummary reads standard output until the summary is complete and returns its
// table, name to URL (notes under name+" note"), and the whole text.
func readSummary(t *testing.T, lines <-chan string) (map[string]string, string) {
	t.Helper()
	rows := map[string]string{}
	var all strings.Builder
	deadline := time.After(readyBound)
	for {
		select {
		case line, ok := <-lines:
			if !ok {
				t.Fatalf("inkwell-cluster exited before it was ready; it printed:\n%s", all.String())
			}
			all.WriteString(line + "\n")
			if m := row.FindStringSubmatch(line); m != nil {
				rows[m[1]] = m[2]
				rows[m[1]+" note"] = m[3]
			}
			// The last line of the summary.
			if strings.Contains(line, "FROM pgautofailover.node") {
				return rows, all.String()
			}
		case <-deadline:
			t.Fatalf("inkwell-cluster not ready within %s; it printed:\n%s", readyBound, all.String())
		}
	}
}

// addresses are the host:port of everything the summary lists.
func addresses(t *testing.T, rows map[string]string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, name := range []string{"nginx", "inkwell-1", "inkwell-2", "pooler", "node1", "node2", "replica", "monitor"} {
		u, err := url.Parse(rows[name])
		if err != nil || u.Host == "" {
			t.Fatalf("summary row %s: %q is not a URL", name, rows[name])
		}
		out[name] = u.Host
	}
	for _, name := range []string{"inkwell-1", "inkwell-2"} {
		out[name+" metrics"] = metricsAddr(t, rows, name)
	}
	return out
}

var metricsNote = regexp.MustCompile(`metrics http://(\S+)/metrics`)

func metricsAddr(t *testing.T, rows map[string]string, name string) string {
	t.Helper()
	m := metricsNote.FindStringSubmatch(rows[name+" note"])
	if m == nil {
		t.Fatalf("summary row %s names no metrics URL: %q", name, rows[name+" note"])
	}
	return m[1]
}

// extensions is what the test reads of a response's extensions.
type extensions struct {
	Consistency struct {
		LSN string `json:"lsn"`
	} `json:"consistency"`
}

// gql sends one operation through base (a POST for a mutation, a GET otherwise), fails
// the test on any error, decodes data into out and returns the extensions.
func gql(t *testing.T, base, token, query string, vars map[string]any, mutation bool, headers map[string]string, out any) extensions {
	t.Helper()
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
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var r struct {
		Data       json.RawMessage
		Errors     []json.RawMessage
		Extensions extensions
	}
	if err := json.Unmarshal(b, &r); err != nil || resp.StatusCode != http.StatusOK || len(r.Errors) > 0 {
		t.Fatalf("%.60s…: status %d, %v: %.500s", query, resp.StatusCode, err, b)
	}
	if err := json.Unmarshal(r.Data, out); err != nil {
		t.Fatal(err)
	}
	return r.Extensions
}

// replicaReads sums inkwell_db_replica_reads_total over both instances.
func replicaReads(t *testing.T, rows map[string]string) float64 {
	t.Helper()
	var sum float64
	for _, name := range []string{"inkwell-1", "inkwell-2"} {
		resp, err := (&http.Client{Timeout: 10 * time.Second}).Get("http://" + metricsAddr(t, rows, name) + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		for line := range strings.SplitSeq(string(b), "\n") {
			if !strings.HasPrefix(line, "inkwell_db_replica_reads_total{") {
				continue
			}
			f := strings.Fields(line)
			v, err := strconv.ParseFloat(f[len(f)-1], 64)
			if err != nil {
				t.Fatalf("metrics of %s: %q", name, line)
			}
			sum += v
		}
	}
	return sum
}

// checkReplicaReads sends anonymous queries without a position, which may read from the
// replica, until the instances count reads there. Each asks for another page size, so
// that no cached answer spares the database.
func checkReplicaReads(t *testing.T, api string, rows map[string]string) {
	t.Helper()
	before := replicaReads(t, rows)
	deadline := time.Now().Add(30 * time.Second)
	for n := 1; ; n++ {
		var page struct{ Articles struct{ TotalCount int } }
		gql(t, api, "", fmt.Sprintf(`{ articles(first: %d) { totalCount nodes { slug } } }`, n%100+1), nil, false, nil, &page)
		if after := replicaReads(t, rows); after > before {
			t.Logf("%d anonymous queries, %v of their reads on the replica", n, after-before)
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d anonymous queries through nginx in 30s, none read from the replica (inkwell_db_replica_reads_total stays %v)", n, before)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// checkPooledTimeout checks that the pooler's sessions run with the instances'
// statement_timeout, which they cannot send through it, and that no instance warned
// about it.
func checkPooledTimeout(t *testing.T, rows map[string]string) {
	t.Helper()
	db, err := sql.Open("postgres", rows["pooler"])
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var got string
	if err := db.QueryRowContext(ctx, "SHOW statement_timeout").Scan(&got); err != nil || got != statementTimeout.String() {
		t.Errorf("statement_timeout through the pooler = %q, %v; want %s", got, err, statementTimeout)
	}
	for _, name := range []string{"inkwell-1", "inkwell-2"} {
		log, err := os.ReadFile(filepath.Join(rows["folder"], name+".log"))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(log, []byte(`"msg":"serving"`)) || bytes.Contains(log, []byte("statement_timeout")) {
			t.Errorf("%s's log should say it serves and not mention statement_timeout:\n%s", name, log)
		}
	}
}

// processesIn lists the processes whose working directory is in dir (removed or not).
func processesIn(dir string) []string {
	var out []string
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		cwd, err := os.Readlink(filepath.Join("/proc", e.Name(), "cwd"))
		if err != nil || (cwd != dir && !strings.HasPrefix(cwd, dir+"/") && !strings.HasPrefix(cwd, dir+" ")) {
			continue
		}
		cmdline, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		out = append(out, e.Name()+" "+strings.ReplaceAll(string(cmdline), "\x00", " "))
	}
	return out
}
