// Package demo loads a small data set into an empty database, so the playground shows
// content on first start. It goes through the service layer, like any client would.
package demo

import (
	"context"
	"fmt"

	"inkwell/ent"
	"inkwell/internal/auth"
	"inkwell/internal/service"
)

// Password is every demo user's password (README.md tells it).
const Password = "inkwell-demo"

type article struct {
	author, title, description, body string
	tags                             []string
}

var (
	users    = []string{"ada", "grace", "linus"}
	follows  = [][2]string{{"ada", "grace"}, {"grace", "ada"}, {"linus", "ada"}, {"linus", "grace"}}
	articles = []article{
		{"ada", "Notes on the Analytical Engine", "Why a machine that weaves patterns can weave numbers too.",
			"# Notes\n\nThe engine *weaves algebraic patterns* just as the Jacquard loom weaves flowers and leaves.\n\n- it can repeat\n- it can branch", []string{"history", "computing"}},
		{"ada", "Bernoulli numbers, step by step", "A worked program.",
			"Computing Bernoulli numbers takes a **table** of operations:\n\n| step | operation |\n|---|---|\n| 1 | multiply |\n| 2 | divide |", []string{"math", "computing"}},
		{"grace", "It's easier to ask forgiveness", "On shipping things.",
			"> It's easier to ask forgiveness than it is to get permission.\n\nShip it, then improve it.", []string{"engineering"}},
		{"grace", "A moth in the relay", "The first actual case of a bug being found.",
			"We found a moth in relay #70, panel F. It went into the log book with tape.", []string{"history", "debugging"}},
		{"linus", "Talk is cheap", "Show me the code.",
			"Bad programmers worry about the code. Good programmers worry about **data structures** and their relationships.", []string{"engineering", "opinion"}},
	}
	comments = []struct{ author, article, body string }{
		{"grace", "Notes on the Analytical Engine", "Still the best description of general-purpose computing."},
		{"linus", "Notes on the Analytical Engine", "Patterns all the way down."},
		{"ada", "A moth in the relay", "The log book entry is wonderful."},
	}
	favorites = [][2]string{{"grace", "Notes on the Analytical Engine"}, {"linus", "Notes on the Analytical Engine"}, {"ada", "Talk is cheap"}}
)

// LoadIfEmpty loads the demo data when db has no users; it reports whether it did.
func LoadIfEmpty(ctx context.Context, db *ent.Client, svc *service.Service) (bool, error) {
	n, err := db.User.Query().Count(ctx)
	if err != nil {
		return false, fmt.Errorf("count users: %w", err)
	}
	if n > 0 {
		return false, nil
	}
	ids := map[string]int{}
	// as is the service acting for the demo user name, and its context.
	as := func(name string) (*service.Acting, context.Context) {
		c := auth.WithViewer(ctx, auth.Viewer{UserID: ids[name]})
		a, _ := svc.As(c) // never anonymous: every demo user has an id by now
		return a, c
	}
	for _, u := range users {
		s, err := svc.SignUp(ctx, service.SignUpInput{Username: u, Email: u + "@example.com", Password: Password})
		if err != nil {
			return false, fmt.Errorf("demo user %s: %w", u, err)
		}
		ids[u] = s.User.ID
	}
	for _, f := range follows {
		a, c := as(f[0])
		if _, err := a.Follow(c, f[1]); err != nil {
			return false, fmt.Errorf("demo follow: %w", err)
		}
	}
	slugs := map[string]string{}
	for _, a := range articles {
		w, c := as(a.author)
		art, err := w.CreateArticle(c, service.CreateArticleInput{
			Title: a.title, Description: a.description, Body: a.body, Tags: a.tags,
		})
		if err != nil {
			return false, fmt.Errorf("demo article: %w", err)
		}
		slugs[a.title] = art.Slug
	}
	for _, c := range comments {
		w, wc := as(c.author)
		if _, err := w.AddComment(wc, slugs[c.article], c.body, nil); err != nil {
			return false, fmt.Errorf("demo comment: %w", err)
		}
	}
	for _, f := range favorites {
		w, c := as(f[0])
		if _, err := w.Favorite(c, slugs[f[1]]); err != nil {
			return false, fmt.Errorf("demo favorite: %w", err)
		}
	}
	return true, nil
}
