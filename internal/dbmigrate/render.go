package dbmigrate

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"inkwell/internal/markdown"
)

// renderBatch is how many articles one transaction of RenderArticles renders.
const renderBatch = 200

// RenderArticles brings the read model of every article (rendered HTML, excerpt, counts,
// table of contents) up to the current renderer, markdown.Version: rows from before the
// read model, or written by an older renderer. It runs after the SQL migrations, which
// cannot render Markdown. Several instances may run it at once: each batch locks the rows
// it renders and skips rows another instance holds, and it returns only when no row is
// left behind. A stored body beyond today's bounds (written before they existed) gets
// its text escaped instead of rendered, so it stays readable and costs nothing to read.
func RenderArticles(ctx context.Context, db *sql.DB) error {
	for {
		n, err := renderArticles(ctx, db)
		if err != nil {
			return err
		}
		if n > 0 {
			continue
		}
		var left bool
		if err := db.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM articles WHERE render_version < $1)`,
			markdown.Version).Scan(&left); err != nil {
			return fmt.Errorf("render articles: %w", err)
		}
		if !left {
			return nil
		}
		// Another instance holds the rest; wait for it rather than serve them unrendered.
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// article is one row to render.
type article struct {
	id   int
	body string
}

// unrendered locks and returns a batch of articles rendered by an older renderer,
// skipping rows another instance holds.
func unrendered(ctx context.Context, tx *sql.Tx) ([]article, error) {
	rows, err := tx.QueryContext(ctx, `SELECT id, body FROM articles WHERE render_version < $1
		ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED`, markdown.Version, renderBatch)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []article
	for rows.Next() {
		var a article
		if err := rows.Scan(&a.id, &a.body); err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

func renderArticles(ctx context.Context, db *sql.DB) (n int, err error) {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("render articles: %w", err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	todo, err := unrendered(ctx, tx)
	if err != nil {
		return 0, fmt.Errorf("render articles: %w", err)
	}
	for _, r := range todo {
		doc, err := markdown.Render(r.body)
		if le := (*markdown.LimitError)(nil); errors.As(err, &le) {
			doc = markdown.Escaped(r.body)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE articles SET body_html = $1, excerpt = $2, word_count = $3,
			reading_time_minutes = $4, toc = $5, render_version = $6 WHERE id = $7`,
			doc.HTML, doc.Excerpt, doc.WordCount, doc.ReadingTimeMinutes, doc.TOC, markdown.Version, r.id); err != nil {
			return 0, fmt.Errorf("render article %d: %w", r.id, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("render articles: %w", err)
	}
	return len(todo), nil
}
