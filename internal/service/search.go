package service

import (
	"context"
	"database/sql"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"inkwell/internal/apperr"
	"inkwell/internal/paging"
)

// SearchType is what a search looks for.
type SearchType string

// The things search finds.
const (
	SearchArticles SearchType = "articles"
	SearchUsers    SearchType = "users"
	SearchTags     SearchType = "tags"
)

// MaxSearchQuery is the longest query accepted, in characters: longer ones are refused
// rather than cut, so that a result never silently answers a different question.
const MaxSearchQuery = 500

// SearchHit is one result: the row's id, how well it matched, and a snippet of its text
// with the matches in <mark> (HTML-escaped otherwise).
type SearchHit struct {
	ID        int
	Rank      float32
	Highlight string
	Cursor    string
}

// SearchResults is a page of hits, best first, and their count.
type SearchResults struct {
	Hits            []SearchHit
	HasNextPage     bool
	HasPreviousPage bool
	Count           func(context.Context) (int, error)
}

// search is one type's statements. Every row matches when its search_vector matches the
// query (inkwell_tsquery: English, or as written when English leaves nothing), is ranked
// by ts_rank_cd (weights: title A, description and tags B, body C), ties broken by
// recency then id; the page comes first and only its rows are highlighted.
type search struct {
	from, where, time, headline string
}

// escaped is x as HTML text, so that <mark> is the only markup a highlight holds.
func escaped(x string) string {
	return `replace(replace(replace(` + x + `, '&', '&amp;'), '<', '&lt;'), '>', '&gt;')`
}

var searches = map[SearchType]search{
	SearchArticles: {from: "articles r", where: "r.status = 'published'", time: "r.published_at",
		headline: escaped("coalesce(nullif(r.description, '') || E'\\n', '') || left(r.body, 20000)")},
	SearchUsers: {from: "users r", where: "true", time: "r.created_at", headline: escaped("r.username || ' ' || r.bio")},
	SearchTags:  {from: "tags r", where: "true", time: "r.created_at", headline: escaped("r.name")},
}

const headlineOptions = `StartSel=<mark>, StopSel=</mark>, MaxWords=30, MinWords=12, MaxFragments=2, FragmentDelimiter=" … "`

// Search finds published articles, users or tags matching query, a web-search-style
// query (quotes for phrases, or, -word), first/after paged.
func (s *Service) Search(ctx context.Context, query string, typ SearchType, first *int, after *string, offset *int) (SearchResults, error) {
	query = strings.TrimSpace(query)
	switch n := utf8.RuneCountInString(query); {
	case n == 0:
		return SearchResults{}, apperr.BadInput("query", "is empty")
	case n > MaxSearchQuery:
		return SearchResults{}, apperr.BadInput("query", fmt.Sprintf("is too long (at most %d characters)", MaxSearchQuery))
	}
	if offset != nil && after != nil {
		return SearchResults{}, apperr.BadInput("offset", "cannot be combined with after or before")
	}
	w, err := paging.FirstOffset(first, nil, offset)
	if err != nil {
		return SearchResults{}, err
	}
	q, ok := searches[typ]
	if !ok {
		return SearchResults{}, apperr.BadInput("type", "is not a search type")
	}
	var cur *searchKey
	if after != nil {
		k, err := decodeSearchCursor(*after)
		if err != nil {
			return SearchResults{}, apperr.BadInput("after", "is not a cursor of this search")
		}
		cur = &k
	}
	args := []any{query, w.Limit + 1}
	bound := ""
	if cur != nil {
		args = append(args, strconv.FormatFloat(float64(cur.rank), 'g', -1, 32), cur.time, cur.id)
		bound = " AND (m.rank, m.t, m.id) < ($3::real, $4::timestamptz, $5::bigint)"
	}
	// The page's rows are joined back to their table for the highlight: computing it
	// for every match would cost what ranking them all does, many times over.
	stmt := `SELECT p.id, p.rank, p.t, ts_headline('english', ` + q.headline + `, p.q, '` + headlineOptions + `')
	  FROM (SELECT m.* FROM (
	          SELECT r.id, ts_rank_cd(r.search_vector, q) AS rank, ` + q.time + ` AS t, q
	            FROM ` + q.from + `, inkwell_tsquery($1) AS q
	           WHERE ` + q.where + ` AND r.search_vector @@ q) m
	         WHERE true` + bound + `
	         ORDER BY m.rank DESC, m.t DESC, m.id DESC LIMIT $2 OFFSET ` + strconv.Itoa(w.Offset) + `) p
	  JOIN ` + q.from + ` ON r.id = p.id
	 ORDER BY p.rank DESC, p.t DESC, p.id DESC`
	rows, err := s.db.QueryContext(ctx, stmt, args...)
	if err != nil {
		return SearchResults{}, fmt.Errorf("search: %w", err)
	}
	defer func() { _ = rows.Close() }()
	out := SearchResults{HasPreviousPage: w.Offset > 0}
	for rows.Next() {
		var h SearchHit
		var t time.Time
		var hl sql.NullString
		if err := rows.Scan(&h.ID, &h.Rank, &t, &hl); err != nil {
			return SearchResults{}, fmt.Errorf("search: %w", err)
		}
		h.Highlight = hl.String
		h.Cursor = encodeSearchCursor(searchKey{rank: h.Rank, time: t, id: h.ID})
		out.Hits = append(out.Hits, h)
	}
	if err := rows.Err(); err != nil {
		return SearchResults{}, fmt.Errorf("search: %w", err)
	}
	if len(out.Hits) > w.Limit {
		out.Hits, out.HasNextPage = out.Hits[:w.Limit], true
	}
	out.Count = func(ctx context.Context) (int, error) {
		n, err := count(ctx, s.db, `SELECT count(*) FROM `+q.from+`, inkwell_tsquery($1) AS q
			WHERE `+q.where+` AND r.search_vector @@ q`, query)
		if err != nil {
			return 0, fmt.Errorf("count search: %w", err)
		}
		return n, nil
	}
	return out, nil
}

// searchKey is where a hit sits in its search's order.
type searchKey struct {
	rank float32
	time time.Time
	id   int
}

const searchCursorPrefix = "search1:"

// encodeSearchCursor writes k; the rank as float32's shortest exact text, so that the
// next page starts exactly after it.
func encodeSearchCursor(k searchKey) string {
	raw := searchCursorPrefix + strconv.FormatFloat(float64(k.rank), 'g', -1, 32) + ":" +
		strconv.FormatInt(k.time.UnixMicro(), 10) + ":" + strconv.Itoa(k.id)
	return base64.RawURLEncoding.EncodeToString([]byte(raw))
}

func decodeSearchCursor(c string) (searchKey, error) {
	raw, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return searchKey{}, err
	}
	rest, ok := strings.CutPrefix(string(raw), searchCursorPrefix)
	parts := strings.Split(rest, ":")
	if !ok || len(parts) != 3 {
		return searchKey{}, fmt.Errorf("malformed search cursor")
	}
	rank, err1 := strconv.ParseFloat(parts[0], 32)
	micros, err2 := strconv.ParseInt(parts[1], 10, 64)
	id, err3 := strconv.Atoi(parts[2])
	if err1 != nil || err2 != nil || err3 != nil || id <= 0 {
		return searchKey{}, fmt.Errorf("malformed search cursor")
	}
	return searchKey{rank: float32(rank), time: time.UnixMicro(micros).UTC(), id: id}, nil
}
