package main

import (
	"context"
	"database/sql"
	"embed"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"

	"inkwell/internal/auth"
)

// documents are the GraphQL documents the workloads send to Inkwell.
//
//go:embed workloads/*.graphql
var documents embed.FS

// doc is one GraphQL document, ready to be put into request bodies.
type doc struct {
	file  string // e.g. W1_home_feed.graphql
	op    string // its operation name
	query string
	head  []byte // `{"operationName":…,"query":…,"variables":` ; a body is head + variables + "}"
}

var opName = regexp.MustCompile(`(?m)^\s*(?:query|mutation)\s+([A-Za-z_][A-Za-z0-9_]*)`)

func newDoc(file, query string) (*doc, error) {
	m := opName.FindStringSubmatch(query)
	if m == nil {
		return nil, fmt.Errorf("%s: no named operation", file)
	}
	head, err := json.Marshal(struct {
		OperationName string `json:"operationName"`
		Query         string `json:"query"`
	}{m[1], query})
	if err != nil {
		return nil, err
	}
	head = append(head[:len(head)-1], `,"variables":`...)
	return &doc{file: file, op: m[1], query: query, head: head}, nil
}

// body is the JSON request body of d with vars (nil sends {}).
func (d *doc) body(vars map[string]any) []byte {
	v := []byte("{}")
	if vars != nil {
		var err error
		if v, err = json.Marshal(vars); err != nil {
			panic(err) // vars are strings and numbers built here
		}
	}
	b := make([]byte, 0, len(d.head)+len(v)+1)
	return append(append(append(b, d.head...), v...), '}')
}

func mustDoc(file string) *doc {
	b, err := documents.ReadFile("workloads/" + file)
	if err != nil {
		panic(err)
	}
	d, err := newDoc(file, string(b))
	if err != nil {
		panic(err)
	}
	return d
}

var (
	docHomeFeed    = mustDoc("W1_home_feed.graphql")
	docArticlePage = mustDoc("W2_article_page.graphql")
	docTags        = mustDoc("W3_tags.graphql")
	docAddComment  = mustDoc("W4_add_comment.graphql")
	docFavorite    = mustDoc("W5_favorite_article.graphql")
	docFollow      = mustDoc("W5_follow_user.graphql")
	docSearch      = mustDoc("W6_search.graphql")
	docTagPage     = mustDoc("W7_tag_page.graphql")
	docBell        = mustDoc("W8_notifications.graphql")
)

// dataset is what the workloads pick from: the seeded users and articles.
type dataset struct {
	usernames []string // by user id - 1 (seeded ids are 1..n)
	slugs     []string // by article id - 1
	tags      []string // every tag in use
	tokens    []string // bearer token by user id - 1; empty until minted
	headers   []http.Header
}

// loadDataset reads the seeded users and slugs.
func loadDataset(ctx context.Context, db *sql.DB) (*dataset, error) {
	d := &dataset{}
	var err error
	if d.usernames, err = idsAndNames(ctx, db, `SELECT id, username FROM users ORDER BY id`); err != nil {
		return nil, err
	}
	if d.slugs, err = idsAndNames(ctx, db, `SELECT id, slug FROM articles ORDER BY id`); err != nil {
		return nil, err
	}
	if d.tags, err = column(ctx, db, `SELECT name FROM tags WHERE articles_count > 0 ORDER BY id`); err != nil {
		return nil, err
	}
	if len(d.usernames) < 2 || len(d.slugs) == 0 || len(d.tags) == 0 {
		return nil, fmt.Errorf("the database holds %d users and %d articles: not seeded", len(d.usernames), len(d.slugs))
	}
	return d, nil
}

// column reads one text column.
func column(ctx context.Context, db *sql.DB, query string) ([]string, error) {
	rows, err := db.QueryContext(ctx, query)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// idsAndNames reads (id, text) rows whose ids must be 1..n, as seeded, into a slice.
func idsAndNames(ctx context.Context, db *sql.DB, query string) ([]string, error) {
	rows, err := db.QueryContext(ctx, query)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id int
		var s string
		if err := rows.Scan(&id, &s); err != nil {
			return nil, err
		}
		if id != len(out)+1 {
			return nil, fmt.Errorf("%s: ids are not 1..n (found %d at %d): not a seeded database", query, id, len(out)+1)
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// mintTokens gives every user an access token, signed as the server signs them, so that
// no request of the benchmark has to sign in. Each token belongs to a session stored as a
// sign-in stores it (one per user, "bench-<id>"), since the server refuses tokens of
// sessions it does not know.
func (d *dataset) mintTokens(ctx context.Context, db *sql.DB, t *auth.Tokens) error {
	if _, err := db.ExecContext(ctx, `
		INSERT INTO refresh_tokens (token_hash, session_id, user_id, created_at, expires_at)
		SELECT sha256(('bench-' || id)::bytea), 'bench-' || id, id, now(), now() + interval '30 days'
		FROM users
		ON CONFLICT (token_hash) DO UPDATE SET revoked_at = NULL, expires_at = EXCLUDED.expires_at`); err != nil {
		return fmt.Errorf("store the benchmark's sessions: %w", err)
	}
	d.tokens = make([]string, len(d.usernames))
	d.headers = make([]http.Header, len(d.usernames))
	for i := range d.usernames {
		tok, _, err := t.Issue(i+1, "bench-"+strconv.Itoa(i+1))
		if err != nil {
			return err
		}
		d.tokens[i] = tok
		d.headers[i] = http.Header{"Content-Type": {"application/json"}, "Authorization": {"Bearer " + tok}}
	}
	return nil
}

func (d *dataset) randomUser() int { return 1 + rand.IntN(len(d.usernames)) }
func (d *dataset) randomSlug() string {
	return d.slugs[rand.IntN(len(d.slugs))]
}

// call is one request of a workload: a document, its variables and the viewer (a seeded
// user id whose token goes in the Authorization header; 0 is anonymous).
type call struct {
	doc    *doc
	vars   map[string]any
	viewer int
}

var commentSeq atomic.Int64

// workload is one of W1..W8.
type workload struct {
	name  string
	title string
	// anchors: the floor and PostGraphile run it too, with the kit's own documents.
	anchors bool
	// next draws Inkwell's next request.
	next func(d *dataset) call
	// anchorVars draws the anchors' next variables; their documents come from the kit.
	anchorVars func(d *dataset) map[string]any
}

var workloads = []*workload{
	{
		name: "W1", title: "W1 home feed", anchors: true,
		next:       homeFeed,
		anchorVars: func(d *dataset) map[string]any { return map[string]any{"viewerId": d.randomUser()} },
	},
	{
		name: "W2", title: "W2 article page", anchors: true,
		next:       articlePage,
		anchorVars: func(d *dataset) map[string]any { return map[string]any{"slug": d.randomSlug()} },
	},
	{
		name: "W3", title: "W3 tags", anchors: true,
		next:       topTags,
		anchorVars: func(*dataset) map[string]any { return nil },
	},
	{
		name: "W4", title: "W4 addComment",
		next: addComment,
	},
	{
		name: "W5", title: "W5 mix",
		next: func(d *dataset) call {
			switch n := rand.IntN(15); {
			case n < 4:
				return homeFeed(d)
			case n < 8:
				return articlePage(d)
			case n < 12:
				return topTags(d)
			case n == 12:
				return favorite(d)
			case n == 13:
				return follow(d)
			default:
				return addComment(d)
			}
		},
	},
	{name: "W6", title: "W6 search", next: search},
	{name: "W7", title: "W7 tag page", next: tagPage},
	{name: "W8", title: "W8 notifications", next: bell},
}

// searchWords is how many words a W6 query joins with "or".
const searchWords = 10

// search asks for any of searchWords seeded article ids: a seeded article's body shows its
// id in a code block, a word no other article has, so every query matches searchWords
// articles at every size, and what grows with the data is only what the search reads past.
func search(d *dataset) call {
	words := make([]string, searchWords)
	for i := range words {
		words[i] = strconv.Itoa(1 + rand.IntN(len(d.slugs)))
	}
	return call{doc: docSearch, vars: map[string]any{"query": strings.Join(words, " or ")}}
}

func tagPage(d *dataset) call {
	return call{doc: docTagPage, vars: map[string]any{"name": d.tags[rand.IntN(len(d.tags))]}}
}

func bell(d *dataset) call { return call{doc: docBell, viewer: d.randomUser()} }

func homeFeed(d *dataset) call { return call{doc: docHomeFeed, viewer: d.randomUser()} }

func articlePage(d *dataset) call {
	return call{doc: docArticlePage, vars: map[string]any{"slug": d.randomSlug()}}
}

func topTags(*dataset) call { return call{doc: docTags} }

func addComment(d *dataset) call {
	n := commentSeq.Add(1)
	return call{doc: docAddComment, viewer: d.randomUser(), vars: map[string]any{
		"slug": d.randomSlug(),
		"body": "Load test comment " + strconv.FormatInt(n, 10) + ": the dataloaders held up.",
	}}
}

func favorite(d *dataset) call {
	return call{doc: docFavorite, vars: map[string]any{"slug": d.randomSlug()}, viewer: d.randomUser()}
}

func follow(d *dataset) call {
	u := d.randomUser()
	other := 1 + (u-1+1+rand.IntN(len(d.usernames)-1))%len(d.usernames) // anyone but u
	return call{doc: docFollow, viewer: u, vars: map[string]any{"username": d.usernames[other-1]}}
}

func workloadNames() []string {
	var out []string
	for _, w := range workloads {
		out = append(out, w.name)
	}
	return out
}

func workloadByName(name string) *workload {
	for _, w := range workloads {
		if w.name == name {
			return w
		}
	}
	return nil
}

// selectWorkloads parses -workloads into known names in canonical order: the writes of
// W4 and W5 change the data, so they always come after the reads the anchors share.
func selectWorkloads(list string) ([]string, error) {
	want := map[string]bool{}
	for _, s := range strings.Split(list, ",") {
		s = strings.ToUpper(strings.TrimSpace(s))
		if s == "" {
			continue
		}
		if workloadByName(s) == nil {
			return nil, fmt.Errorf("unknown workload %q (want %s)", s, strings.Join(workloadNames(), ", "))
		}
		want[s] = true
	}
	var out []string
	for _, n := range workloadNames() {
		if want[n] {
			out = append(out, n)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("-workloads %q names no workload", list)
	}
	return out, nil
}

// anchorDocs are the kit's documents for W1..W3: queries/{floor,peer}_Wn.graphql.
func anchorDocs(kit string) (map[string]map[string]*doc, error) {
	out := map[string]map[string]*doc{targetFloor: {}, targetPeer: {}}
	for _, w := range workloads {
		if !w.anchors {
			continue
		}
		for target, prefix := range map[string]string{targetFloor: "floor_", targetPeer: "peer_"} {
			file := filepath.Join(kit, "queries", prefix+w.name+".graphql")
			b, err := os.ReadFile(file)
			if err != nil {
				return nil, err
			}
			d, err := newDoc(filepath.Base(file), string(b))
			if err != nil {
				return nil, err
			}
			out[target][w.name] = d
		}
	}
	return out, nil
}
