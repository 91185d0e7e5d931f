package server

import (
	"net/http"
	"slices"
	"strings"
)

// route is one entry of the API. Every route Studio serves is listed in
// routes, so the whole surface can be read in one place.
type route struct {
	method  string
	path    string
	handler http.HandlerFunc
}

func (s *Server) routes() []route {
	return []route{
		{"POST", "/v1/sessions", s.requireAdmin(s.handleCreateSession)},
		{"GET", "/v1/session", s.handleGetSession},
		{"DELETE", "/v1/session", s.handleDeleteSession},
		{"DELETE", "/v1/users/{user_id}/sessions", s.requireAdmin(s.handleRevokeUser)},
		{"GET", "/healthz", s.handleHealthz},
		{"GET", "/readyz", s.handleReadyz},
		{"GET", "/metrics", s.metricsRoute()},
		{"GET", "/health/redis", s.requireAdmin(s.handleHealthRedis)},
		{"GET", "/v1/admin/log-level", s.requireAdmin(s.handleGetLogLevel)},
		{"PUT", "/v1/admin/log-level", s.requireAdmin(s.handlePutLogLevel)},
		{"GET", "/v1/alerts", s.requireAdmin(s.handleListAlerts)},
		{"GET", "/v1/alerts/silences", s.requireAdmin(s.handleListSilences)},
		{"POST", "/v1/alerts/silences", s.requireAdmin(s.handleCreateSilence)},
		{"DELETE", "/v1/alerts/silences/{id}", s.requireAdmin(s.handleExpireSilence)},
		{"GET", "/docs/runbooks/{$}", s.handleRunbookList},
		{"GET", "/docs/runbooks/{name}", s.handleRunbook},
		{"GET", "/debug/pprof/{$}", s.requireAdmin(handleProfileIndex)},
		{"GET", "/debug/pprof/{name}", s.requireAdmin(handleProfile)},
	}
}

// mount is a subtree handed whole to another handler, which answers every
// method and path under it (and does its own authentication).
type mount struct {
	prefix  string
	handler http.Handler
}

// mounts lists the subtrees: the dashboard page at /studio/redis (its
// paths are listed in package dashboard; access is its own session
// cookie, exchanged for the admin token).
func (s *Server) mounts() []mount {
	var ms []mount
	if s.opts.Dashboard != nil {
		ms = append(ms, mount{"/studio/redis", s.opts.Dashboard})
	}
	return ms
}

// newMux registers the routes, a JSON 405 (with Allow) for every known path
// under another method, the mounted subtrees, and a JSON 404 for
// everything else.
func (s *Server) newMux() *http.ServeMux {
	mux := http.NewServeMux()
	for _, m := range s.mounts() {
		mux.Handle(m.prefix, m.handler)
		mux.Handle(m.prefix+"/", m.handler)
	}
	allowed := map[string][]string{}
	var paths []string
	for _, rt := range s.routes() {
		mux.HandleFunc(rt.method+" "+rt.path, rt.handler)
		if _, ok := allowed[rt.path]; !ok {
			paths = append(paths, rt.path)
		}
		allowed[rt.path] = append(allowed[rt.path], rt.method)
	}
	for _, p := range paths {
		methods := allowed[p]
		if slices.Contains(methods, "GET") {
			methods = append(methods, "HEAD")
		}
		allow := strings.Join(methods, ", ")
		mux.HandleFunc(p, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Allow", allow)
			writeError(w, http.StatusMethodNotAllowed, "method_not_allowed", "method "+r.Method+" is not allowed here; allowed: "+allow)
		})
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "not_found", "no such route")
	})
	return mux
}
