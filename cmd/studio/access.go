package main

import (
	"context"
	"crypto/sha256"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/studiohq/studio/internal/adminauth"
	"github.com/studiohq/studio/internal/clientaddr"
	"github.com/studiohq/studio/internal/filewatch"
	"github.com/studiohq/studio/internal/listen"
)

// fileCheckInterval is how often the listener's certificate and the admin
// token file are checked for a change (a stat of each; SIGHUP re-reads
// them at once).
const fileCheckInterval = 2 * time.Second

// buildAccess builds who may do what and how they are reached: the admin
// tokens (kept in step with their file when they come from one), the one
// admin check the API and the dashboard share (wrong tokens counted in
// Redis, shared by every instance), the trusted proxies, and the
// listener's certificate.
func (a *app) buildAccess() error {
	a.tokens = adminauth.New(a.cfg.AdminTokens...)
	if a.cfg.AdminTokenFile != "" {
		a.tokenFile = newAdminTokenFile(a.cfg.AdminTokenFile, a.tokens, a.log)
	}
	a.guard = adminauth.NewGuard(adminauth.GuardOptions{
		Tokens:     a.tokens,
		Throttle:   adminauth.ThrottleOptions{Redis: a.rdb, Logger: a.log},
		Registerer: a.reg,
	})
	a.proxies = clientaddr.NewResolver(a.cfg.TrustedProxies)
	if a.cfg.TLSCertFile != "" {
		var err error
		if a.listenCert, err = listen.LoadCertificate(a.cfg.TLSCertFile, a.cfg.TLSKeyFile, a.log); err != nil {
			return fmt.Errorf("listener TLS (STUDIO_TLS_CERT_FILE): %w", err)
		}
	}
	return nil
}

// adminTokenFile keeps the admin tokens in step with the file
// STUDIO_ADMIN_TOKEN_FILE names: one token a line (or comma-separated),
// re-read when it changes and on SIGHUP. A file whose tokens would not
// pass at start-up (one too weak, none at all) is refused whole, logged,
// and the tokens in use stay. Safe for concurrent use.
type adminTokenFile struct {
	path   string
	tokens *adminauth.Tokens
	log    *slog.Logger
	watch  *filewatch.Watch

	mu   sync.Mutex
	last [sha256.Size]byte // of the tokens in use
}

// newAdminTokenFile watches path for tokens, whose current set (read at
// start-up) is in tokens.
func newAdminTokenFile(path string, tokens *adminauth.Tokens, log *slog.Logger) *adminTokenFile {
	f := &adminTokenFile{path: path, tokens: tokens, log: log}
	if v, err := readSecretFile(path); err == nil {
		f.last = digestOf(adminauth.ParseList(v))
	}
	f.watch = filewatch.New(f.load, path)
	return f
}

func digestOf(toks []string) [sha256.Size]byte {
	toks = slices.Clone(toks)
	slices.Sort(toks)
	return sha256.Sum256([]byte(strings.Join(toks, "\n")))
}

// load reads the file and installs its tokens if they pass; its errors
// never hold a token.
func (f *adminTokenFile) load() error {
	v, err := readSecretFile(f.path)
	var toks []string
	if err == nil {
		toks = adminauth.ParseList(v)
		if len(toks) == 0 {
			err = fmt.Errorf("the file holds no token")
		} else {
			err = checkAdminTokens(toks)
		}
	}
	if err != nil {
		f.log.Error("admin token file not reloaded; the tokens in use stay", "file", f.path, "error", err.Error())
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if d := digestOf(toks); d != f.last {
		f.tokens.Set(toks...)
		f.last = d
		f.log.Info("admin tokens reloaded", "file", f.path, "tokens", len(toks))
	}
	return nil
}

// Reload re-reads the file now (on SIGHUP).
func (f *adminTokenFile) Reload() error { return f.watch.Reload() }

// Run re-reads the file whenever it changes, checking every interval,
// until ctx ends.
func (f *adminTokenFile) Run(ctx context.Context, every time.Duration) { f.watch.Run(ctx, every) }
