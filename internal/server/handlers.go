package server

import (
	"context"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/studiohq/studio/health"
	"github.com/studiohq/studio/session"
	"github.com/studiohq/studio/telemetry"
)

// sessionView is the JSON shape of a session in every response.
type sessionView struct {
	ID          string            `json:"id"`
	UserID      string            `json:"user_id"`
	CreatedAt   time.Time         `json:"created_at"`
	LastSeenAt  time.Time         `json:"last_seen_at"`
	ExpiresAt   time.Time         `json:"expires_at"`
	IdleTimeout int64             `json:"idle_timeout,omitempty"` // seconds
	Metadata    map[string]string `json:"metadata,omitempty"`
}

func viewOf(s session.Session) sessionView {
	return sessionView{
		ID:          s.ID,
		UserID:      s.UserID,
		CreatedAt:   s.CreatedAt,
		LastSeenAt:  s.LastSeenAt,
		ExpiresAt:   s.ExpiresAt,
		IdleTimeout: int64(s.IdleTimeout / time.Second),
		Metadata:    s.Metadata,
	}
}

func (s *Server) handleCreateSession(w http.ResponseWriter, r *http.Request) {
	req, code, msg := decodeCreate(w, r, s.maxBody)
	if code != "" {
		status := http.StatusBadRequest
		switch code {
		case "body_too_large":
			status = http.StatusRequestEntityTooLarge
		case "unsupported_media_type":
			status = http.StatusUnsupportedMediaType
		}
		writeError(w, status, code, msg)
		return
	}
	if slices.Contains(s.opts.ReservedUserIDs, req.UserID) {
		writeError(w, http.StatusBadRequest, "reserved_user_id", "user_id "+strconv.Quote(req.UserID)+" is reserved for Studio's own dashboard logins")
		return
	}
	tok, sess, err := s.sessions.Create(r.Context(), session.CreateParams{
		UserID:      req.UserID,
		TTL:         time.Duration(req.TTL),
		IdleTimeout: time.Duration(req.IdleTimeout),
		Metadata:    req.Metadata,
	})
	if err != nil {
		s.sessionError(w, r, err, outcomeCreate)
		return
	}
	writeJSON(w, http.StatusCreated, struct {
		Token   string      `json:"token"`
		Session sessionView `json:"session"`
	}{tok.Reveal(), viewOf(sess)})
}

func (s *Server) handleGetSession(w http.ResponseWriter, r *http.Request) {
	tok, code, msg := bearer(r)
	if code != "" {
		refuseBearer(w, code, msg)
		return
	}
	sess, err := s.sessions.Validate(r.Context(), tok)
	if err != nil {
		s.sessionError(w, r, err, outcomeValidate)
		return
	}
	v := viewOf(sess)
	writeSession(w, &v)
}

func (s *Server) handleDeleteSession(w http.ResponseWriter, r *http.Request) {
	tok, code, msg := bearer(r)
	if code != "" {
		refuseBearer(w, code, msg)
		return
	}
	if err := s.sessions.Revoke(r.Context(), tok); err != nil {
		// Never 204 unless the store recorded the logout.
		s.sessionError(w, r, err, outcomeLogout)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) handleRevokeUser(w http.ResponseWriter, r *http.Request) {
	n, err := s.sessions.RevokeUser(r.Context(), r.PathValue("user_id"))
	if err != nil {
		s.sessionError(w, r, err, outcomeRevoke)
		return
	}
	writeJSON(w, http.StatusOK, struct {
		Revoked int `json:"revoked"`
	}{n})
}

func (s *Server) handleHealthz(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

type check struct {
	Status string `json:"status"`
	Error  string `json:"error,omitempty"`
}

// checkOf is a dependency's check: okWord or "down", with the error when
// detail is set.
func checkOf(err error, okWord string, detail bool) check {
	switch {
	case err == nil:
		return check{Status: okWord}
	case detail:
		return check{Status: "down", Error: err.Error()}
	}
	return check{Status: "down"}
}

// handleReadyz answers 200 while sessions can be validated: "ok" with every
// dependency up, "degraded" when Redis is down or the revocation index is
// not current (validation then runs from the store), and 503 "down" when
// the store is unreachable, or "draining" once Drain was called. Anyone
// sees the statuses and the checks' names; the checks' errors (addresses,
// Redis's own messages) and the warmer's progress only a request with an
// admin bearer token.
func (s *Server) handleReadyz(w http.ResponseWriter, r *http.Request) {
	if _, code, msg := bearer(r); code == codeTwoAuthorizations {
		writeError(w, http.StatusBadRequest, code, msg)
		return
	}
	if s.draining.Load() {
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{
			"status": "draining",
			"checks": map[string]any{"shutdown": check{Status: "draining"}},
		})
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.readyWait)
	defer cancel()
	h := s.sessions.Health(ctx)
	status, code := "ok", http.StatusOK
	if h.Redis != nil || !h.Subscribed || h.Revocations != session.RevocationsCurrent {
		status = "degraded"
	}
	if h.Store != nil {
		status, code = "down", http.StatusServiceUnavailable
	}
	inval := check{Status: "subscribed"}
	if !h.Subscribed {
		inval = check{Status: "down"}
	}
	detail := s.isAdmin(r)
	checks := map[string]any{
		"redis":        checkOf(h.Redis, "ok", detail),
		"store":        checkOf(h.Store, "ok", detail),
		"invalidation": inval,
		"revocations":  check{Status: string(h.Revocations)},
	}
	if s.opts.Warming != nil {
		// Warming never makes an instance unready: serving starts at once.
		wp := s.opts.Warming()
		if detail {
			checks["warming"] = wp
		} else {
			checks["warming"] = struct {
				State health.WarmState `json:"state"`
			}{wp.State}
		}
	}
	writeJSON(w, code, map[string]any{"status": status, "checks": checks})
}

// metricsRoute serves the Prometheus exposition, behind the admin token when
// configured so.
func (s *Server) metricsRoute() http.HandlerFunc {
	h := func(w http.ResponseWriter, r *http.Request) {
		if s.opts.MetricsHandler == nil {
			writeError(w, http.StatusNotFound, "not_found", "metrics are not enabled")
			return
		}
		s.opts.MetricsHandler.ServeHTTP(w, r)
	}
	if s.opts.MetricsAdminOnly {
		return s.requireAdmin(h)
	}
	return h
}

func (s *Server) handleHealthRedis(w http.ResponseWriter, r *http.Request) {
	if s.opts.Health == nil {
		writeError(w, http.StatusServiceUnavailable, "unavailable", "the Redis monitor is not running")
		return
	}
	writeJSON(w, http.StatusOK, s.opts.Health(r.Context()))
}

type levelBody struct {
	Level string `json:"level"`
}

func (s *Server) handleGetLogLevel(w http.ResponseWriter, r *http.Request) {
	if s.opts.LogLevel == nil {
		writeError(w, http.StatusNotFound, "not_found", "the log level is not adjustable")
		return
	}
	writeJSON(w, http.StatusOK, levelBody{Level: strings.ToLower(s.opts.LogLevel.Level().String())})
}

// handlePutLogLevel changes the log level at run time: {"level":"debug"}.
func (s *Server) handlePutLogLevel(w http.ResponseWriter, r *http.Request) {
	if s.opts.LogLevel == nil {
		writeError(w, http.StatusNotFound, "not_found", "the log level is not adjustable")
		return
	}
	var body levelBody
	if code, msg := decodeJSON(http.MaxBytesReader(w, r.Body, 1024), &body); code != "" {
		status := http.StatusBadRequest
		if code == "body_too_large" {
			status = http.StatusRequestEntityTooLarge
		}
		writeError(w, status, code, msg)
		return
	}
	lvl, err := telemetry.ParseLevel(body.Level)
	if err != nil {
		writeError(w, http.StatusBadRequest, "invalid_request", err.Error())
		return
	}
	old := s.opts.LogLevel.Level()
	s.opts.LogLevel.Set(lvl)
	s.log.InfoContext(r.Context(), "log level changed", "from", strings.ToLower(old.String()), "to", strings.ToLower(lvl.String()))
	writeJSON(w, http.StatusOK, levelBody{Level: strings.ToLower(lvl.String())})
}
