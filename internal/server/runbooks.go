package server

import (
	"errors"
	"io/fs"
	"net/http"
	"regexp"
	"strconv"
)

// runbookName is the only form of runbook name served: no directories, no
// dots but the extension, so no path can leave the runbook folder.
var runbookName = regexp.MustCompile(`^[a-z0-9-]+\.md$`)

// maxRunbookName bounds a runbook name, so an absurd one costs nothing.
const maxRunbookName = 128

// runbookCSP forbids everything: a runbook is text, never a page that may
// load or run anything, even if a browser were to render it.
const runbookCSP = "default-src 'none'; sandbox"

func validRunbookName(name string) bool {
	return len(name) <= maxRunbookName && runbookName.MatchString(name)
}

// handleRunbook serves GET /docs/runbooks/{name}: one runbook as
// text/markdown, without authentication (runbooks are not secret, and the
// links in alerts must always work).
func (s *Server) handleRunbook(w http.ResponseWriter, r *http.Request) {
	if s.opts.Runbooks == nil {
		writeError(w, http.StatusNotFound, "not_found", "runbooks are not served by this instance")
		return
	}
	name := r.PathValue("name")
	if !validRunbookName(name) {
		writeError(w, http.StatusNotFound, "not_found", "no such runbook")
		return
	}
	b, err := fs.ReadFile(s.opts.Runbooks, name)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrInvalid) {
			writeError(w, http.StatusNotFound, "not_found", "no such runbook")
			return
		}
		s.log.ErrorContext(r.Context(), "read runbook", "runbook", name, "error", err)
		writeError(w, http.StatusInternalServerError, "internal", "internal error")
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/markdown; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", runbookCSP)
	h.Set("Cache-Control", "public, max-age=300")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b)
}

// handleRunbookList serves GET /docs/runbooks/: the runbooks' names as
// {"runbooks":["redis-down.md",…]}, sorted.
func (s *Server) handleRunbookList(w http.ResponseWriter, r *http.Request) {
	if s.opts.Runbooks == nil {
		writeError(w, http.StatusNotFound, "not_found", "runbooks are not served by this instance")
		return
	}
	entries, err := fs.ReadDir(s.opts.Runbooks, ".")
	if err != nil {
		s.log.ErrorContext(r.Context(), "list runbooks", "error", err)
		writeError(w, http.StatusInternalServerError, "internal", "internal error")
		return
	}
	names := []string{}
	for _, e := range entries {
		if e.Type().IsRegular() && validRunbookName(e.Name()) {
			names = append(names, e.Name())
		}
	}
	writeJSON(w, http.StatusOK, struct {
		Runbooks []string `json:"runbooks"`
	}{names})
}
