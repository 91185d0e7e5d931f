package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/studiohq/studio/session"
)

// maxSeed is the most sessions one `studio bench --seed` creates, and the
// most tokens --tokens reads.
const maxSeed = 10_000_000

// seedBatch is the number of sessions of each store write of --seed: the
// larger the batch, the cheaper a row (see sqlstore's CreateBatch).
const seedBatch = session.MaxBatch

// seedResult is what --seed prints (--json: this object).
type seedResult struct {
	Sessions      int     `json:"sessions"`
	Store         string  `json:"store"` // "sqlite" or "postgresql"
	Seconds       float64 `json:"seconds"`
	SessionsPerS  float64 `json:"sessions_per_second"`
	TokensWritten string  `json:"tokens_file"`
}

// runSeed runs `studio bench --seed N --tokens-out FILE`: it creates n
// sessions of the user "loadgen" in the store of DATABASE_URL through a
// session.Service (CreateBatch: every token minted as Create mints one),
// seedBatch (100 000) to a store write, writes their tokens to path, one a line
// (a new file, mode 0600: they are secrets), and prints the time taken.
// The sessions live for the Service's default TTL (24 h); no Redis copy
// is written (serve's start-up warm or `studio warm` makes them).
func runSeed(ctx context.Context, st *settings, n int, path string, asJSON bool, stdout, stderr io.Writer) error {
	switch {
	case n < 1 || n > maxSeed:
		return usageErrorf("invalid --seed %d: must be between 1 and %d", n, maxSeed)
	case path == "":
		return usageErrorf("--seed needs --tokens-out, the file to write the new sessions' tokens to")
	}
	cfg, err := st.Config()
	if err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return usageErrorf("invalid --tokens-out: %v (it must be a new file: the tokens of an earlier seeding are not overwritten)", err)
	}
	ok := false
	defer func() {
		if f.Close() != nil || !ok {
			os.Remove(path)
		}
	}()
	log := commandLogger(stderr, cfg.LogLevel)
	svc, closeAll, err := benchService(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer closeAll()
	start := time.Now()
	if err := seed(ctx, svc, n, f, func(done int) {
		if isTerminal(stdout) {
			fmt.Fprintf(stdout, "\r\033[Kseed: %d/%d sessions", done, n)
		}
	}); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	took := time.Since(start)
	ok = true
	res := seedResult{Sessions: n, Store: storeKind(cfg.DatabaseURL), Seconds: took.Seconds(), SessionsPerS: float64(n) / took.Seconds(), TokensWritten: path}
	if isTerminal(stdout) {
		fmt.Fprint(stdout, "\r\033[K")
	}
	if asJSON {
		return json.NewEncoder(stdout).Encode(res)
	}
	fmt.Fprintf(stdout, "seeded %d sessions into %s in %.1fs (%.0f a second); their tokens are in %s\n", n, res.Store, res.Seconds, res.SessionsPerS, path)
	return nil
}

// seed creates n sessions through svc, writing their tokens to w, one a
// line, after each batch's store write; progress is told the sessions
// created so far.
func seed(ctx context.Context, svc *session.Service, n int, w io.Writer, progress func(done int)) error {
	p := session.CreateParams{UserID: "loadgen"}
	buf := make([]byte, 0, seedBatch*(session.TokenLen+1))
	for done := 0; done < n; {
		k := min(seedBatch, n-done)
		toks, err := svc.CreateBatch(ctx, p, k)
		if err != nil {
			return fmt.Errorf("seed: sessions %d to %d of %d: %w", done+1, done+k, n, err)
		}
		buf = buf[:0]
		for _, t := range toks {
			buf = append(append(buf, t.Reveal()...), '\n')
		}
		if _, err := w.Write(buf); err != nil {
			return fmt.Errorf("seed: write tokens: %w", err)
		}
		done += k
		progress(done)
	}
	return nil
}

// storeKind names the store of a DATABASE_URL.
func storeKind(dsn string) string {
	if strings.HasPrefix(dsn, "sqlite:") {
		return "sqlite"
	}
	return "postgresql"
}

// readTokensFile reads the --tokens file (see parseTokens).
func readTokensFile(path string) ([]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, usageErrorf("invalid --tokens: %v", err)
	}
	toks, err := parseTokens(b)
	if err != nil {
		return nil, usageErrorf("invalid --tokens %s: %v", path, err)
	}
	return toks, nil
}

// parseTokens reads a tokens file as --seed writes it: one session token
// a line, each well formed (session.ParseToken), at least one and at most
// maxSeed; blank lines and a missing final newline are accepted. The
// tokens share one copy of b's text. An error names the line, never its
// text (a token is a secret).
func parseTokens(b []byte) ([]string, error) {
	if len(b) > (maxSeed+1)*(session.TokenLen+2) {
		return nil, fmt.Errorf("more than %d bytes: over %d tokens", (maxSeed+1)*(session.TokenLen+2), maxSeed)
	}
	text := string(b)
	toks := make([]string, 0, bytes.Count(b, []byte{'\n'})+1)
	for line := 1; text != ""; line++ {
		var tok string
		tok, text, _ = strings.Cut(text, "\n")
		tok = strings.TrimSuffix(tok, "\r")
		if strings.TrimSpace(tok) == "" {
			continue
		}
		if _, err := session.ParseToken(tok); err != nil {
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
		if len(toks) == maxSeed {
			return nil, fmt.Errorf("more than %d tokens", maxSeed)
		}
		toks = append(toks, tok)
	}
	if len(toks) == 0 {
		return nil, errors.New("no tokens: want one session token a line, as --seed writes them")
	}
	return toks, nil
}
