// Command release marks the current schema.graphql as released: it copies it to
// internal/schemaguard/released.graphql, the schema the guard compares against, and
// empties internal/schemaguard/intended.txt, keeping its leading comments. Run it from
// the repository root, in the commit that ships the release:
//
//	go run ./internal/schemaguard/cmd/release
package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"inkwell/internal/schemaguard"
)

const (
	schemaFile   = "schema.graphql"
	releasedFile = "internal/schemaguard/released.graphql"
	intendedFile = "internal/schemaguard/intended.txt"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "release:", err)
		os.Exit(1)
	}
}

func run() error {
	if _, err := os.Stat("go.mod"); err != nil {
		return errors.New("run from the repository root (where go.mod is)")
	}
	next, err := schemaguard.LoadSchema(schemaFile)
	if err != nil {
		return err
	}
	prev, err := schemaguard.LoadSchema(releasedFile)
	if err != nil {
		return err
	}
	var breaking int
	for _, c := range schemaguard.Diff(prev, next) {
		if c.Severity == schemaguard.Breaking {
			breaking++
		}
	}
	src, err := os.ReadFile(schemaFile)
	if err != nil {
		return err
	}
	if err := os.WriteFile(releasedFile, src, 0o644); err != nil {
		return err
	}
	intended, err := os.ReadFile(intendedFile)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if err := os.WriteFile(intendedFile, header(intended), 0o644); err != nil {
		return err
	}
	fmt.Printf("released %s as %s (%d breaking changes since the last release); %s emptied\n",
		schemaFile, filepath.Base(releasedFile), breaking, filepath.Base(intendedFile))
	return nil
}

// header is the leading block of comment and blank lines of intended.txt: its
// explanation, without the entries.
func header(intended []byte) []byte {
	var out bytes.Buffer
	sc := bufio.NewScanner(bytes.NewReader(intended))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line != "" && !strings.HasPrefix(line, "#") {
			break
		}
		out.WriteString(sc.Text() + "\n")
	}
	b := bytes.TrimRight(out.Bytes(), "\n")
	if len(b) == 0 {
		return nil
	}
	return append(b, '\n')
}
