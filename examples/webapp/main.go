// Command webapp is a small web application that asks Studio whether its
// callers' sessions are valid, through client.Middleware.
//
//	STUDIO_URL=http://127.0.0.1:8080 STUDIO_ADMIN_TOKEN=… go run ./examples/webapp
//
// Routes: GET / (public), POST /login?user=NAME (creates a Studio session,
// sets it as the "sid" cookie and returns the token), GET /me (the
// caller's session; Bearer token or cookie), POST /logout (revokes it).
// ADDR sets the listen address (default 127.0.0.1:8081).
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/studiohq/studio/client"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "webapp:", err)
		os.Exit(1)
	}
}

// run serves until ctx ends. It prints "listening on ADDR" once ready.
func run(ctx context.Context, getenv func(string) string, stdout io.Writer) error {
	base := getenv("STUDIO_URL")
	if base == "" {
		base = "http://127.0.0.1:8080"
	}
	addr := getenv("ADDR")
	if addr == "" {
		addr = "127.0.0.1:8081"
	}
	studio, err := client.New(base,
		client.WithAdminToken(getenv("STUDIO_ADMIN_TOKEN")),
		client.WithTimeout(time.Second),
		client.WithCache(2*time.Second, 10_000), // a revoke elsewhere may take up to 2 s to reach this app
	)
	if err != nil {
		return err
	}
	defer studio.Close()

	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: routes(studio), ReadHeaderTimeout: 5 * time.Second}
	fmt.Fprintf(stdout, "listening on %s\n", ln.Addr())
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	if err := srv.Serve(ln); err != http.ErrServerClosed {
		return err
	}
	return nil
}

func routes(studio *client.Client) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "hello; POST /login?user=NAME, then GET /me")
	})
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		tok, s, err := studio.Create(r.Context(), client.CreateRequest{UserID: r.URL.Query().Get("user"), TTL: 8 * time.Hour})
		if err != nil {
			slog.WarnContext(r.Context(), "login failed", "error", err)
			http.Error(w, "login failed", http.StatusBadGateway)
			return
		}
		http.SetCookie(w, &http.Cookie{Name: "sid", Value: tok, Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode, Expires: s.ExpiresAt})
		writeJSON(w, map[string]string{"token": tok, "user_id": s.UserID})
	})
	protected := http.NewServeMux()
	protected.HandleFunc("GET /me", func(w http.ResponseWriter, r *http.Request) {
		s, _ := client.SessionFrom(r.Context())
		writeJSON(w, map[string]any{"user_id": s.UserID, "session_id": s.ID, "expires_at": s.ExpiresAt})
	})
	protected.HandleFunc("POST /logout", func(w http.ResponseWriter, r *http.Request) {
		ck, err := r.Cookie("sid")
		tok := ""
		if err == nil {
			tok = ck.Value
		}
		if t, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
			tok = t
		}
		if err := studio.Revoke(r.Context(), tok); err != nil {
			http.Error(w, "logout failed; try again", http.StatusServiceUnavailable)
			return
		}
		http.SetCookie(w, &http.Cookie{Name: "sid", Path: "/", MaxAge: -1})
		w.WriteHeader(http.StatusNoContent)
	})
	auth := client.Middleware(protected, client.WithClient(studio), client.WithCookie("sid"))
	mux.Handle("GET /me", auth)
	mux.Handle("POST /logout", auth)
	return mux
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}
