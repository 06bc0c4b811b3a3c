package main

import (
	"context"
	"database/sql"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"inkwell/internal/config"
	"inkwell/internal/dbmigrate"
	"inkwell/internal/seed"
)

// seedFlags defines seed's flags and returns the command: it fills the database with a
// deterministic data set, with a progress bar on a terminal and a plain log line per
// table otherwise.
func seedFlags(fs *flag.FlagSet) func(context.Context, *slog.Logger) error {
	size := fs.String("size", "S", "data set size: S, M or L")
	seedN := fs.Uint64("seed", 1, "random seed; the same seed and size give the same rows")
	force := fs.Bool("force", false, "empty a database that already has data, then seed it (and make a new development signing key)")
	return func(ctx context.Context, log *slog.Logger) error {
		sz, ok := seed.Sizes[strings.ToUpper(*size)]
		if !ok {
			return fmt.Errorf("unknown size %q: want S, M or L", *size)
		}
		cfg, local, err := envDatabase(ctx, log)
		if err != nil {
			return err
		}
		defer local.Stop()
		db, err := sql.Open("postgres", local.URL)
		if err != nil {
			return err
		}
		defer db.Close()
		if err := dbmigrate.UpDB(ctx, db); err != nil {
			return err
		}
		began := time.Now()
		err = seed.Run(ctx, db, seed.Options{Size: sz, Seed: *seedN, Force: *force, Progress: progress(log)})
		if err != nil {
			return err
		}
		log.Info("seeded", "size", sz.Name, "seed", *seedN, "users", sz.Users, "articles", sz.Articles,
			"comments", sz.Comments, "favorites", sz.Favorites, "took", time.Since(began).Round(time.Millisecond).String())
		if *force && cfg.SigningKey == "" {
			// User ids restart: a token issued before would sign in as whoever has its id now.
			if _, err := config.RotateDevSigningKey(cfg.DataDir, randomBytes); err != nil {
				return fmt.Errorf("development signing key: %w", err)
			}
			if local.Shared != "" {
				log.Warn("made a new development signing key; restart the server so that tokens issued before seeding are refused",
					"server", local.Shared)
			} else {
				log.Info("made a new development signing key: tokens issued before seeding are refused")
			}
		}
		return nil
	}
}

func progress(log *slog.Logger) func(table string, done, total int) {
	if !term.IsTerminal(int(os.Stdout.Fd())) {
		return func(table string, done, total int) {
			if done == total {
				log.Info("seeded table", "table", table, "rows", total)
			}
		}
	}
	var bar *progressbar.ProgressBar
	current := ""
	return func(table string, done, total int) {
		if table != current {
			current = table
			bar = progressbar.NewOptions(total,
				progressbar.OptionSetDescription(fmt.Sprintf("%-13s", table)),
				progressbar.OptionShowCount(),
				progressbar.OptionSetWidth(30),
				progressbar.OptionThrottle(100*time.Millisecond),
				progressbar.OptionOnCompletion(func() { fmt.Println() }))
		}
		_ = bar.Set(done)
	}
}
