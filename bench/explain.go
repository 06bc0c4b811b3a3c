package main

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

// plans are the first pages the issue asks to be index scans at every size, as the
// service sends them; -explain writes their EXPLAIN to -out/explain.txt.
var plans = []struct{ name, query string }{
	{"W1 home feed page (followed authors and tags)", `SELECT id, published_at FROM articles
		WHERE status = 'published'
		  AND articles.id IN (
		    (SELECT a.id FROM articles a WHERE a.author_id IN (SELECT followee_id FROM follows WHERE follower_id = 42)
		       AND a.status = 'published' ORDER BY a.published_at DESC, a.id DESC LIMIT 21)
		    UNION
		    (SELECT x.article_id FROM (SELECT DISTINCT ON (x.published_at, x.article_id) x.article_id, x.published_at
		       FROM tag_follows f CROSS JOIN LATERAL (SELECT t.article_id, t.published_at FROM article_tags t
		         WHERE t.tag_id = f.tag_id AND t.published_at IS NOT NULL ORDER BY t.published_at DESC, t.article_id DESC LIMIT 21) x
		       WHERE f.user_id = 42 ORDER BY x.published_at DESC, x.article_id DESC LIMIT 21) x))
		ORDER BY published_at DESC, id DESC LIMIT 21`},
	{"articles(orderBy: NEWEST)", `SELECT id, published_at FROM articles WHERE status = 'published'
		ORDER BY published_at DESC, id DESC LIMIT 21`},
	{"articles(orderBy: MOST_FAVORITED)", `SELECT id, published_at, favorites_count FROM articles WHERE status = 'published'
		AND id IN (SELECT r.article_id FROM article_ranks r ORDER BY r.favorites_count DESC, r.published_at DESC, r.article_id DESC LIMIT 21)
		ORDER BY favorites_count DESC, published_at DESC, id DESC LIMIT 21`},
	{"articles(orderBy: MOST_COMMENTED)", `SELECT id, published_at, comments_count FROM articles WHERE status = 'published'
		AND id IN (SELECT r.article_id FROM article_ranks r ORDER BY r.comments_count DESC, r.published_at DESC, r.article_id DESC LIMIT 21)
		ORDER BY comments_count DESC, published_at DESC, id DESC LIMIT 21`},
	{"articles(orderBy: TRENDING)", `SELECT id, published_at, trending_score FROM articles WHERE status = 'published'
		AND id IN (SELECT r.article_id FROM article_ranks r ORDER BY r.trending_score DESC, r.published_at DESC, r.article_id DESC LIMIT 21)
		ORDER BY trending_score DESC, published_at DESC, id DESC LIMIT 21`},
	{"W7 tag page (the most used tag)", `SELECT id, published_at FROM articles WHERE status = 'published'
		AND id IN (SELECT t.article_id FROM article_tags t JOIN tags g ON g.id = t.tag_id WHERE g.name = 'topic0001')
		AND id IN (SELECT t.article_id FROM article_tags t WHERE t.tag_id = (SELECT id FROM tags WHERE name = 'topic0001')
		  AND t.published_at IS NOT NULL ORDER BY t.published_at DESC, t.article_id DESC LIMIT 21)
		ORDER BY published_at DESC, id DESC LIMIT 21`},
	{"W6 search (ten article ids)", `SELECT p.id, p.rank, p.t FROM (SELECT m.* FROM (
		  SELECT r.id, ts_rank_cd(r.search_vector, q) AS rank, r.published_at AS t, q
		    FROM articles r, inkwell_tsquery('11 or 222 or 1333 or 1444 or 1555 or 1666 or 1777 or 1888 or 1999 or 100') AS q
		   WHERE r.status = 'published' AND r.search_vector @@ q) m
		 ORDER BY m.rank DESC, m.t DESC, m.id DESC LIMIT 21) p
		JOIN articles r ON r.id = p.id ORDER BY p.rank DESC, p.t DESC, p.id DESC`},
	{"W8 notifications", `SELECT * FROM notifications n WHERE n.user_id = 42 AND NOT n.superseded
		AND (n.article_id IS NULL OR (SELECT a.status FROM articles a WHERE a.id = n.article_id) = 'published')
		ORDER BY n.id DESC LIMIT 21`},
	{"W8 unread count", `SELECT count(*) FROM notifications n WHERE n.user_id = 42 AND NOT n.superseded AND n.read_at IS NULL
		AND (n.article_id IS NULL OR (SELECT a.status FROM articles a WHERE a.id = n.article_id) = 'published')`},
}

// maxPlanRows is the most rows a node of these plans may produce.
const maxPlanRows = 5000

var actualRows = regexp.MustCompile(`actual rows=(\d+)`)

// explain writes the plans of plans to out/explain.txt, and fails on one that reads a
// large table whole or far more rows than it returns.
func explain(ctx context.Context, db *sql.DB, out, size string) error {
	var b strings.Builder
	fmt.Fprintf(&b, "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) at size %s\n", size)
	var seq []string
	for _, p := range plans {
		lines, err := planOf(ctx, db, p.query)
		if err != nil {
			return fmt.Errorf("explain %s: %w", p.name, err)
		}
		fmt.Fprintf(&b, "\n-- %s\n", p.name)
		for _, line := range lines {
			b.WriteString(line + "\n")
			if strings.Contains(line, "Seq Scan on articles") || strings.Contains(line, "Seq Scan on notifications") {
				seq = append(seq, p.name+" (a sequential scan)")
			}
			// A page, a count of one user's rows or a search of ten words never needs
			// thousands of rows: more means a plan that reads past what it returns.
			if m := actualRows.FindStringSubmatch(line); m != nil {
				if n, _ := strconv.Atoi(m[1]); n > maxPlanRows {
					seq = append(seq, fmt.Sprintf("%s (a node of %d rows)", p.name, n))
				}
			}
		}
	}
	if err := os.WriteFile(filepath.Join(out, "explain.txt"), []byte(b.String()), 0o644); err != nil {
		return err
	}
	if len(seq) > 0 {
		return fmt.Errorf("plans that read far more than they return: %s (see %s)", strings.Join(seq, ", "), filepath.Join(out, "explain.txt"))
	}
	return nil
}

// planOf is query's EXPLAIN ANALYZE, line by line.
func planOf(ctx context.Context, db *sql.DB, query string) ([]string, error) {
	rows, err := db.QueryContext(ctx, "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) "+query)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			return nil, err
		}
		out = append(out, line)
	}
	return out, rows.Err()
}
