package app_test

import (
	"encoding/json"
	"net/http"
	"testing"

	"inkwell/internal/apptest"
	"inkwell/internal/config"
)

type costReceipt struct {
	Estimated     int     `json:"estimated"`
	SQLStatements int64   `json:"sqlStatements"`
	DBMillis      float64 `json:"dbMillis"`
}

// receiptOf is the extensions.cost of res, or nil.
func receiptOf(t *testing.T, res *apptest.Response) *costReceipt {
	t.Helper()
	var body struct {
		Extensions struct {
			Cost *costReceipt `json:"cost"`
		} `json:"extensions"`
	}
	if err := json.Unmarshal(res.Body, &body); err != nil {
		t.Fatalf("%v: %s", err, res.Body)
	}
	return body.Extensions.Cost
}

const costQuery = `{ articles(first: 5) { nodes { title author { username } tags { name } } } }`

func TestCostReceipt(t *testing.T) {
	t.Parallel()
	e := apptest.New(t)
	alice := e.SignUp(t, "alice")
	e.CreateArticle(t, alice, "One", "go")
	e.CreateArticle(t, alice, "Two", "sql")
	ask := map[string]string{"Inkwell-Cost": "on"}

	var first *costReceipt
	t.Run("asked for, an answer carries what it cost", func(t *testing.T) {
		res := e.Do(t, apptest.Request{Query: costQuery, Header: ask})
		if res.Status != http.StatusOK || len(res.Errors) > 0 {
			t.Fatalf("%d %s", res.Status, res.Body)
		}
		c := receiptOf(t, res)
		if c == nil {
			t.Fatalf("no extensions.cost: %s", res.Body)
		}
		if c.SQLStatements == 0 || c.SQLStatements != res.Statements {
			t.Errorf("sqlStatements = %d, want the %d the request sent", c.SQLStatements, res.Statements)
		}
		if c.DBMillis <= 0 {
			t.Errorf("dbMillis = %v after %d statements", c.DBMillis, c.SQLStatements)
		}
		if c.Estimated <= 5 {
			t.Errorf("estimated = %d for five articles with fields", c.Estimated)
		}
		first = c
	})

	t.Run("estimated is the cost the complexity limit checks", func(t *testing.T) {
		at := func(limit int) *apptest.Response {
			return apptest.New(t, apptest.WithConfig(func(c *config.Config) { c.Limits.Complexity = limit })).
				Do(t, apptest.Request{Query: costQuery, Header: ask})
		}
		if res := at(first.Estimated); len(res.Errors) > 0 || receiptOf(t, res).Estimated != first.Estimated {
			t.Fatalf("at a limit of %d: %s", first.Estimated, res.Body)
		}
		if res := at(first.Estimated - 1); res.Code() != "QUERY_TOO_COMPLEX" {
			t.Fatalf("at a limit of %d: %q, want QUERY_TOO_COMPLEX", first.Estimated-1, res.Code())
		}
	})

	t.Run("a write counts its statements too", func(t *testing.T) {
		res := e.Do(t, apptest.Request{
			Query:  `mutation($in: FollowUserInput!) { followUser(input: $in) { user { username } } }`,
			Token:  e.SignUp(t, "bob").Token,
			Header: ask, Variables: map[string]any{"in": map[string]any{"username": "alice"}},
		})
		// What the request does after its answer is written (the follow's notice) is not
		// on the receipt.
		c := receiptOf(t, res)
		if len(res.Errors) > 0 || c == nil || c.SQLStatements == 0 || c.SQLStatements > res.Statements {
			t.Fatalf("receipt %+v for %d statements: %s", c, res.Statements, res.Body)
		}
	})

	t.Run("not asked for, there is none", func(t *testing.T) {
		res := e.Do(t, apptest.Request{Query: costQuery})
		if c := receiptOf(t, res); c != nil {
			t.Fatalf("extensions.cost %+v unasked: %s", c, res.Body)
		}
	})

	t.Run("in development every answer carries one", func(t *testing.T) {
		dev := e.Peer(t, apptest.WithConfig(func(c *config.Config) { c.CostReceipts = true }))
		res := dev.Do(t, apptest.Request{Query: costQuery})
		if c := receiptOf(t, res); c == nil || c.Estimated != first.Estimated {
			t.Fatalf("receipt %+v, want estimated %d: %s", c, first.Estimated, res.Body)
		}
	})

	t.Run("development reads its configuration so", func(t *testing.T) {
		for env, want := range map[string]bool{"development": true, "production": false} {
			cfg, err := config.FromEnv(func(k string) string {
				switch k {
				case "INKWELL_ENV":
					return env
				case "DATABASE_URL":
					return "postgres://db/inkwell"
				case "INKWELL_SIGNING_KEY":
					return "4f9c2a7e1b8d3f6a0c5e9b2d7a4f1c8e3b6d9a2f5c8e1b4d"
				}
				return ""
			})
			if err != nil {
				t.Fatalf("%s: %v", env, err)
			}
			if cfg.CostReceipts != want {
				t.Errorf("%s: CostReceipts = %v, want %v", env, cfg.CostReceipts, want)
			}
		}
	})
}
