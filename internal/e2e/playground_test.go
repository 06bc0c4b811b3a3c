package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"inkwell/internal/apptest"
	"inkwell/internal/demo"
	"inkwell/internal/playground"
)

// findChromium returns $INKWELL_CHROMIUM if set, else Debian's /usr/bin/chromium (which
// .ci/install-chromium installs), else chromium, chromium-browser or google-chrome on
// PATH: the order .ci/install-chromium checks.
func findChromium() (string, error) {
	if p := os.Getenv("INKWELL_CHROMIUM"); p != "" {
		if fi, err := os.Stat(p); err != nil || fi.IsDir() {
			return "", fmt.Errorf("INKWELL_CHROMIUM=%s is not a Chromium binary", p)
		}
		return p, nil
	}
	if _, err := os.Stat("/usr/bin/chromium"); err == nil {
		return "/usr/bin/chromium", nil
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", errors.New("chromium, chromium-browser or google-chrome not found on PATH: install Chromium " +
		"(make test does on Debian as root, with .ci/install-chromium) or set INKWELL_CHROMIUM to its binary")
}

// browserTimeout bounds a whole browser session, start to screenshot. It is generous
// because the whole suite shares two cores with it in CI.
const browserTimeout = 3 * time.Minute

// TestPlaygroundRunsExample loads the playground from a running server in headless
// Chromium, runs the first example and reads the answer from the result pane, as a person
// would, and checks that the page asked nothing of any host but the server.
func TestPlaygroundRunsExample(t *testing.T) {
	t.Parallel()
	requireChromium(t)
	env := apptest.New(t)
	b := newBrowser(t)
	author := env.SignUp(t, "ada")
	art := env.CreateArticle(t, author, "Notes from the playground", "browsers")

	err := b.do(
		chromedp.Navigate(env.URL+"/"),
		chromedp.WaitVisible(chromedp.CSS(".graphiql-execute-button")),
		// The first tab is GlobalFeed, the first example. Its headers pane still holds the
		// token hint, which the page must leave out: sent, it would be answered with 401.
		chromedp.Click(chromedp.CSS(".graphiql-execute-button")),
	)
	var result string
	if err == nil {
		result, err = chromedp.Run(b.ctx, chromedp.Poll[string](`(() => {
			const cm = document.querySelector('.result-window .CodeMirror');
			const text = cm && cm.CodeMirror.getValue();
			return text && text.includes('"data"') ? text : false;
		})()`, chromedp.WithPollingTimeout(time.Minute)))
	}
	if err != nil {
		b.screenshot(t, "playground-failed")
		t.Fatalf("run the first example: %v (browser problems: %v)", err, b.problems())
	}

	var resp struct {
		Data struct {
			Articles struct {
				Edges []struct {
					Node struct {
						Slug, Title    string
						FavoritesCount int
						Author         struct{ Username string }
						Tags           []struct{ Name string }
					}
				}
			}
		}
		Errors []json.RawMessage
	}
	if err := json.Unmarshal([]byte(result), &resp); err != nil {
		t.Fatalf("result pane is not a GraphQL response: %v\n%s", err, result)
	}
	if len(resp.Errors) > 0 || len(resp.Data.Articles.Edges) != 1 {
		t.Fatalf("result pane shows %s", result)
	}
	got := resp.Data.Articles.Edges[0].Node
	if got.Slug != art.Slug || got.Title != art.Title || got.Author.Username != "ada" ||
		len(got.Tags) != 1 || got.Tags[0].Name != "browsers" {
		t.Errorf("result pane shows %+v, want the seeded article %+v", got, art)
	}

	// A dialog injects a style element, which the page's policy must allow (the check
	// of the browser's problems below would see the violation).
	err = b.do(
		chromedp.Click(chromedp.CSS(`button[aria-label="Open settings dialog"]`)),
		chromedp.WaitVisible(chromedp.CSS(".graphiql-dialog")),
		chromedp.KeyEvent(kb.Escape),
		chromedp.WaitNotPresent(chromedp.CSS(".graphiql-dialog")),
	)
	if err != nil {
		b.screenshot(t, "playground-failed")
		t.Fatalf("settings dialog: %v (browser problems: %v)", err, b.problems())
	}

	// Introspection fed the documentation explorer with the schema's own descriptions.
	err = b.do(
		chromedp.Click(chromedp.CSS(`button[aria-label="Show Documentation Explorer"]`)),
		chromedp.Click(chromedp.Search(`//div[contains(@class,"graphiql-doc-explorer")]//a[text()="Query"]`)),
	)
	var doc string
	if err == nil {
		doc, err = chromedp.Run(b.ctx, chromedp.Poll[string](`(() => {
			const el = document.querySelector('.graphiql-doc-explorer');
			return el && el.innerText.includes('The root of all reads.') ? el.innerText : false;
		})()`, chromedp.WithPollingTimeout(time.Minute)))
	}
	b.screenshot(t, "playground")
	if err != nil {
		t.Fatalf("documentation explorer: %v (browser problems: %v)", err, b.problems())
	}
	if !strings.Contains(doc, "The article with this slug, or null when there is none.") {
		t.Errorf("documentation explorer lacks the field descriptions:\n%s", doc)
	}

	if p := b.problems(); len(p) > 0 {
		t.Errorf("the page reported problems:\n%s", strings.Join(p, "\n"))
	}
	b.checkRequests(t, env.URL)
}

// TestPlaygroundExamplesRunOnDemoData runs every example tab, as a newcomer would after
// `make run`, over the demo data: each answers without errors and with the data the
// example's comment promises.
func TestPlaygroundExamplesRunOnDemoData(t *testing.T) {
	t.Parallel()
	env := apptest.New(t)
	if _, err := demo.LoadIfEmpty(context.Background(), env.App.Client, env.App.Service); err != nil {
		t.Fatal(err)
	}
	examples, err := playground.Examples()
	if err != nil {
		t.Fatal(err)
	}
	var token string
	for _, ex := range examples {
		var vars map[string]any
		if ex.Variables != "" {
			if err := json.Unmarshal([]byte(ex.Variables), &vars); err != nil {
				t.Fatalf("%s: variables: %v", ex.Name, err)
			}
		}
		res := env.Query(t, token, ex.Query, vars)
		if len(res.Errors) > 0 {
			t.Fatalf("%s: %s", ex.Name, res.Body)
		}
		var data map[string]json.RawMessage
		if err := json.Unmarshal(res.Data, &data); err != nil {
			t.Fatalf("%s: %v", ex.Name, err)
		}
		for field, v := range data {
			if string(v) == "null" || string(v) == "[]" || strings.Contains(string(v), `"edges":[]`) {
				t.Errorf("%s: %s is empty: %s", ex.Name, field, v)
			}
		}
		// SignIn's token is what the person pastes into the next tab's headers.
		if raw, ok := data["signIn"]; ok {
			var s struct{ AccessToken string }
			if err := json.Unmarshal(raw, &s); err != nil || s.AccessToken == "" {
				t.Fatalf("SignIn gave no token: %s", raw)
			}
			token = s.AccessToken
		}
	}
	if token == "" {
		t.Error("no example signs in")
	}
}

// browser is one headless Chromium with a fresh profile, and what its page reported.
type browser struct {
	ctx context.Context

	mu       sync.Mutex
	requests []string
	errors   []string
}

// requireChromium returns Chromium's path; it fails the test, never skips it, when
// Chromium is missing.
func requireChromium(t *testing.T) string {
	t.Helper()
	p, err := findChromium()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func newBrowser(t *testing.T) *browser {
	t.Helper()
	chromiumPath := requireChromium(t)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath),
		chromedp.Headless,
		// Tests run as root, where Chromium's sandbox cannot start.
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		// Nothing but the page may talk to the network: no updates, sync or reports.
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-domain-reliability", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1400, 900),
	)
	b := &browser{}
	ctx, cancel := context.WithTimeout(context.Background(), browserTimeout)
	t.Cleanup(cancel)
	ctx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	t.Cleanup(cancelAlloc)
	ctx, cancelTab := chromedp.NewContext(ctx,
		// Seen from the start of the tab, so that no request escapes the check.
		chromedp.WithListener(func(ev any) {
			var u string
			switch ev := ev.(type) {
			case *network.EventRequestWillBeSent:
				u = ev.Request.URL
			case *network.EventWebSocketCreated:
				u = ev.URL
			default:
				return
			}
			b.mu.Lock()
			defer b.mu.Unlock()
			b.requests = append(b.requests, u)
		}))
	t.Cleanup(cancelTab)
	b.ctx = ctx

	// Console messages, uncaught exceptions and the browser's own log, where
	// Content-Security-Policy violations and failed loads land. Subscribing starts the
	// browser, so that a broken install fails here.
	messages := chromedp.Console(ctx)
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start %s: %v", chromiumPath, err)
	}
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			if m.Type == chromedp.ConsoleError || m.Type == chromedp.ConsoleWarning || m.IsException() {
				b.mu.Lock()
				b.errors = append(b.errors, fmt.Sprintf("%s %s: %s (%s)", m.Source, m.Type, m.Text, m.URL))
				b.mu.Unlock()
			}
		}
	}()
	return b
}

func (b *browser) do(steps ...chromedp.Action[chromedp.Void]) error {
	return chromedp.Do(b.ctx, steps...)
}

func (b *browser) problems() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.errors...)
}

// checkRequests fails the test unless every request went to the server under test, and
// the page's own files were among them (so that an empty list cannot pass).
func (b *browser) checkRequests(t *testing.T, serverURL string) {
	t.Helper()
	server, err := url.Parse(serverURL)
	if err != nil {
		t.Fatal(err)
	}
	b.mu.Lock()
	requests := append([]string(nil), b.requests...)
	b.mu.Unlock()
	seen := map[string]bool{}
	for _, raw := range requests {
		u, err := url.Parse(raw)
		if err != nil {
			t.Errorf("unparsable request URL %q", raw)
			continue
		}
		if u.Scheme == "data" {
			continue
		}
		if ip := net.ParseIP(u.Hostname()); ip == nil || !ip.IsLoopback() || u.Host != server.Host {
			t.Errorf("request to %s, which is not the server under test (%s)", raw, server.Host)
		}
		switch {
		case u.Path == "/graphql":
			seen["graphql"] = true
		case strings.HasPrefix(u.Path, playground.AssetPath):
			seen[strings.SplitN(strings.TrimPrefix(u.Path, playground.AssetPath), ".", 2)[0]] = true
		}
	}
	for _, want := range []string{"react", "react-dom", "graphiql", "playground", "graphql"} {
		if !seen[want] {
			t.Errorf("no request for %s among %q", want, requests)
		}
	}
}

// screenshot writes the window as a PNG into $INKWELL_TEST_ARTIFACTS, or artifacts/ beside
// this file, for a person to look at.
func (b *browser) screenshot(t *testing.T, name string) {
	t.Helper()
	dir := os.Getenv("INKWELL_TEST_ARTIFACTS")
	if dir == "" {
		dir = "artifacts"
	}
	png, err := chromedp.Run(b.ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Errorf("screenshot: %v", err)
		return
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Errorf("screenshot: %v", err)
		return
	}
	path, err := filepath.Abs(filepath.Join(dir, name+".png"))
	if err != nil {
		t.Errorf("screenshot: %v", err)
		return
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Errorf("screenshot: %v", err)
		return
	}
	t.Logf("screenshot: %s", path)
}
