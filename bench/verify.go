package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"reflect"
	"time"
)

// The verification reads the same sample from every target and compares the documents
// after mapping each shape onto one: PostGraphile's connections and relation names, the
// floor's plain lists, Inkwell's connections, and null versus "" for a missing image.
// Timestamps are compared as instants. Ids are left out: each server has its own kind.

type vUser struct{ Username, Bio, Image string }

type vComment struct {
	Body, CreatedAt string
	Author          vUser
}

type vArticle struct {
	Slug, Title, Description, Body string
	CreatedAt, UpdatedAt           string
	Author                         vUser
	Tags                           []string
	FavoritesCount                 int
	ViewerHasFavorited             bool
	Comments                       []vComment
}

type vTag struct {
	Name          string
	ArticlesCount int
}

type jUser struct {
	Username string
	Bio      *string
	Image    *string
}

func (u jUser) norm() vUser {
	s := func(p *string) string {
		if p == nil {
			return ""
		}
		return *p
	}
	return vUser{u.Username, s(u.Bio), s(u.Image)}
}

type jComment struct {
	Body           string
	CreatedAt      string
	Author         jUser
	UserByAuthorID jUser
}

func (c jComment) norm() vComment {
	a := c.Author
	if a.Username == "" {
		a = c.UserByAuthorID
	}
	return vComment{Body: c.Body, CreatedAt: instant(c.CreatedAt), Author: a.norm()}
}

// jArticle has the fields of all three shapes; each target fills its own.
type jArticle struct {
	Slug, Title, Description, Body string
	CreatedAt, UpdatedAt           string
	ViewerHasFavorited             bool
	Author                         jUser
	Tags                           json.RawMessage // [{name}] (Inkwell) or [name] (floor)
	FavoritesCount                 int
	Comments                       json.RawMessage // {nodes: […]} (Inkwell) or […] (floor)
	// PostGraphile
	UserByAuthorID         jUser
	ArticleTagsByArticleID struct {
		Nodes []struct{ TagByTagID struct{ Name string } }
	}
	FavoritesByArticleID struct{ TotalCount int }
	CommentsByArticleID  struct{ Nodes []jComment }
}

func (a jArticle) norm() (vArticle, error) {
	v := vArticle{Slug: a.Slug, Title: a.Title, Description: a.Description, Body: a.Body,
		CreatedAt: instant(a.CreatedAt), UpdatedAt: instant(a.UpdatedAt),
		Author: a.Author.norm(), FavoritesCount: a.FavoritesCount, ViewerHasFavorited: a.ViewerHasFavorited}
	var comments []jComment
	switch {
	case a.UserByAuthorID.Username != "": // PostGraphile
		v.Author = a.UserByAuthorID.norm()
		for _, n := range a.ArticleTagsByArticleID.Nodes {
			v.Tags = append(v.Tags, n.TagByTagID.Name)
		}
		v.FavoritesCount = a.FavoritesByArticleID.TotalCount
		comments = a.CommentsByArticleID.Nodes
	case bytes.HasPrefix(bytes.TrimSpace(a.Comments), []byte("[")): // floor
		if err := json.Unmarshal(a.Tags, &v.Tags); err != nil {
			return v, err
		}
		if err := json.Unmarshal(a.Comments, &comments); err != nil {
			return v, err
		}
	default: // Inkwell
		var tags []struct{ Name string }
		if err := json.Unmarshal(a.Tags, &tags); err != nil {
			return v, err
		}
		for _, t := range tags {
			v.Tags = append(v.Tags, t.Name)
		}
		var conn struct{ Nodes []jComment }
		if err := json.Unmarshal(a.Comments, &conn); err != nil {
			return v, err
		}
		comments = conn.Nodes
	}
	v.Comments = []vComment{}
	for _, c := range comments {
		v.Comments = append(v.Comments, c.norm())
	}
	if v.Tags == nil {
		v.Tags = []string{}
	}
	return v, nil
}

// instant normalises an RFC 3339 timestamp to UTC seconds; "" stays "".
func instant(s string) string {
	if s == "" {
		return ""
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return "unparsable " + s
	}
	return t.UTC().Truncate(time.Second).Format(time.RFC3339)
}

// connOrList decodes {nodes: [...]} or [...].
func connOrList[T any](raw json.RawMessage) ([]T, error) {
	var out []T
	if bytes.HasPrefix(bytes.TrimSpace(raw), []byte("[")) {
		err := json.Unmarshal(raw, &out)
		return out, err
	}
	var conn struct{ Nodes []T }
	err := json.Unmarshal(raw, &conn)
	return conn.Nodes, err
}

// fetch sends one request to a target and returns its data.
func fetch(ctx context.Context, t *target, body []byte, hdr http.Header) (map[string]json.RawMessage, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header = hdr.Clone()
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		return nil, err
	}
	var out struct {
		Data   map[string]json.RawMessage
		Errors json.RawMessage
	}
	if err := json.Unmarshal(raw, &out); err != nil || res.StatusCode != http.StatusOK || len(out.Errors) > 0 {
		return nil, fmt.Errorf("%s: HTTP %d: %.500s", t.name, res.StatusCode, raw)
	}
	return out.Data, nil
}

// request is what one target is sent for one sample: Inkwell's documents with the
// viewer's token, the kit's documents with the viewer as a variable.
func request(t *target, w *workload, ds *dataset, viewer int, slug string) ([]byte, http.Header) {
	hdr := http.Header{"Content-Type": {"application/json"}}
	if t.name == targetInkwell {
		switch w.name {
		case "W1":
			return docHomeFeed.body(nil), ds.headers[viewer-1]
		case "W2":
			return docArticlePage.body(map[string]any{"slug": slug}), hdr
		default:
			return docTags.body(nil), hdr
		}
	}
	// The anchor's targeter holds its document; take the body from one target it makes.
	vars := map[string]any{}
	switch w.name {
	case "W1":
		vars["viewerId"] = viewer
	case "W2":
		vars["slug"] = slug
	}
	return t.anchorDoc(w).body(vars), hdr
}

// verify checks that every target returns the same W1, W2 and W3 data for a sample of
// viewers and slugs, so that the comparison is between servers reading the same rows.
func verify(ctx context.Context, targets []*target, ds *dataset) error {
	t0 := time.Now()
	var viewers []int
	for i := range 30 {
		viewers = append(viewers, 1+i*len(ds.usernames)/30)
	}
	var slugs []string
	for i := range 10 { // the lowest ids carry the most comments
		slugs = append(slugs, ds.slugs[i])
	}
	for i := range 20 {
		slugs = append(slugs, ds.slugs[(i*len(ds.slugs))/20+7])
	}
	articles, comments := 0, 0
	for _, w := range workloads[:3] {
		type sample struct {
			viewer int
			slug   string
		}
		samples := []sample{{}}
		switch w.name {
		case "W1":
			samples = samples[:0]
			for _, v := range viewers {
				samples = append(samples, sample{viewer: v})
			}
		case "W2":
			samples = samples[:0]
			for _, s := range slugs {
				samples = append(samples, sample{slug: s})
			}
		}
		for _, s := range samples {
			var want any
			for _, t := range targets {
				body, hdr := request(t, w, ds, s.viewer, s.slug)
				data, err := fetch(ctx, t, body, hdr)
				if err != nil {
					return fmt.Errorf("verify %s: %w", w.name, err)
				}
				got, err := normalize(w.name, data)
				if err != nil {
					return fmt.Errorf("verify %s %s: %w", w.name, t.name, err)
				}
				if want == nil {
					want = got
					if as, ok := got.([]vArticle); ok {
						articles += len(as)
						for _, a := range as {
							comments += len(a.Comments)
						}
					}
					continue
				}
				if !reflect.DeepEqual(want, got) {
					wb, _ := json.Marshal(want)
					gb, _ := json.Marshal(got)
					return fmt.Errorf("verify %s (viewer %d, slug %q): %s and %s differ:\n %s: %.1500s\n %s: %.1500s",
						w.name, s.viewer, s.slug, targets[0].name, t.name, targets[0].name, wb, t.name, gb)
				}
			}
		}
	}
	log.Printf("verified: %d viewers' feeds, %d article pages and the top tags are the same on all %d targets (%d articles, %d comments; %s)",
		len(viewers), len(slugs), len(targets), articles, comments, time.Since(t0).Round(time.Millisecond))
	return nil
}

// normalize maps a target's data for a workload onto the common shape.
func normalize(wl string, data map[string]json.RawMessage) (any, error) {
	switch wl {
	case "W1":
		raw, err := connOrList[jArticle](data["feed"])
		if err != nil {
			return nil, err
		}
		out := []vArticle{}
		for _, a := range raw {
			v, err := a.norm()
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
		return out, nil
	case "W2":
		raw := data["article"]
		if raw == nil {
			raw = data["articleBySlug"]
		}
		var a *jArticle
		if err := json.Unmarshal(raw, &a); err != nil {
			return nil, err
		}
		if a == nil {
			return nil, fmt.Errorf("no article")
		}
		v, err := a.norm()
		return []vArticle{v}, err
	default:
		raw := data["tags"]
		if raw == nil {
			raw = data["popularTags"]
		}
		return connOrList[vTag](raw)
	}
}
