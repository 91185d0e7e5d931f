package server

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/studiohq/studio/alert"
)

// AlertAPI is what the alert routes need from the alert engine. Its methods
// must be safe for concurrent use.
type AlertAPI interface {
	// AlertStatuses lists the firing, pending and recently resolved alerts.
	AlertStatuses() []alert.AlertStatus
	// AddSilence validates and stores a silence; errors wrap
	// alert.ErrInvalidSilence for a bad one.
	AddSilence(ctx context.Context, s alert.Silence) (alert.Silence, error)
	// Silences lists the silences. It may return a (stale) list together
	// with an error, when the shared store is unreachable.
	Silences(ctx context.Context) ([]alert.Silence, error)
	// ExpireSilence ends a silence now; errors wrap
	// alert.ErrSilenceNotFound for an unknown id.
	ExpireSilence(ctx context.Context, id string) (alert.Silence, error)
}

var _ AlertAPI = (*alert.Engine)(nil)

// Limits of a silence created through the API.
const (
	// maxSilenceLength bounds how long a silence lasts (from its effective
	// start), so that a forgotten silence cannot mute an alert for ever.
	maxSilenceLength = 90 * 24 * time.Hour
	// maxSilenceAhead bounds how far in the future a silence may start.
	maxSilenceAhead = 365 * 24 * time.Hour
	// maxSilenceMatchers bounds the matchers of one silence.
	maxSilenceMatchers = 64
	// maxCreatedByLen is the engine's own limit on created_by, checked here
	// so that the message names the field.
	maxCreatedByLen = 256
	maxCommentLen   = 1024
)

// alertStates are the values GET /v1/alerts?state= accepts.
var alertStates = map[string]alert.State{
	"firing":   alert.StateFiring,
	"pending":  alert.StatePending,
	"resolved": alert.StateResolved,
}

// alertsDisabled answers the alert routes when no engine is configured.
func alertsDisabled(w http.ResponseWriter) {
	writeError(w, http.StatusServiceUnavailable, "alerts_disabled", "alerting is not enabled on this instance")
}

// handleListAlerts serves GET /v1/alerts[?state=firing|pending|resolved].
func (s *Server) handleListAlerts(w http.ResponseWriter, r *http.Request) {
	if s.opts.Alerts == nil {
		alertsDisabled(w)
		return
	}
	var want alert.State
	if vals, ok := r.URL.Query()["state"]; ok {
		if len(vals) != 1 {
			writeError(w, http.StatusBadRequest, "invalid_request", "the state parameter may be given only once")
			return
		}
		st, ok := alertStates[vals[0]]
		if !ok {
			writeError(w, http.StatusBadRequest, "invalid_request", "state must be one of firing, pending or resolved")
			return
		}
		want = st
	}
	out := []alert.AlertStatus{}
	for _, a := range s.opts.Alerts.AlertStatuses() {
		if want != "" && (a.Alert == nil || a.State != want) {
			continue
		}
		out = append(out, a)
	}
	writeJSON(w, http.StatusOK, struct {
		Alerts []alert.AlertStatus `json:"alerts"`
	}{out})
}

// handleListSilences serves GET /v1/alerts/silences. When the engine can
// only give its last copy (Redis is unreachable), the answer is still 200,
// with a warning.
func (s *Server) handleListSilences(w http.ResponseWriter, r *http.Request) {
	if s.opts.Alerts == nil {
		alertsDisabled(w)
		return
	}
	list, err := s.opts.Alerts.Silences(r.Context())
	if err != nil && (list == nil || errors.Is(err, context.Canceled)) {
		s.alertError(w, r, "list silences", err)
		return
	}
	body := struct {
		Silences []alert.Silence `json:"silences"`
		Warning  string          `json:"warning,omitempty"`
	}{Silences: list}
	if body.Silences == nil {
		body.Silences = []alert.Silence{}
	}
	if err != nil {
		s.log.WarnContext(r.Context(), "alert silences: listing the last known copy", "route", r.Pattern, "error", err)
		body.Warning = "the shared silence store is unreachable: this is this instance's last known copy, which may be out of date"
	}
	writeJSON(w, http.StatusOK, body)
}

// handleCreateSilence serves POST /v1/alerts/silences.
func (s *Server) handleCreateSilence(w http.ResponseWriter, r *http.Request) {
	if s.opts.Alerts == nil {
		alertsDisabled(w)
		return
	}
	sil, code, msg := decodeSilence(w, r, s.maxBody, time.Now())
	if code != "" {
		writeError(w, decodeStatus(code), code, msg)
		return
	}
	created, err := s.opts.Alerts.AddSilence(r.Context(), sil)
	if err != nil {
		s.alertError(w, r, "add silence", err)
		return
	}
	s.log.InfoContext(r.Context(), "alert silence created", "silence", created.ID, "matchers", created.Matchers.String(), "ends_at", created.EndsAt)
	writeJSON(w, http.StatusCreated, struct {
		Silence alert.Silence `json:"silence"`
	}{created})
}

// handleExpireSilence serves DELETE /v1/alerts/silences/{id}.
func (s *Server) handleExpireSilence(w http.ResponseWriter, r *http.Request) {
	if s.opts.Alerts == nil {
		alertsDisabled(w)
		return
	}
	sil, err := s.opts.Alerts.ExpireSilence(r.Context(), r.PathValue("id"))
	if err != nil {
		s.alertError(w, r, "expire silence", err)
		return
	}
	s.log.InfoContext(r.Context(), "alert silence expired", "silence", sil.ID)
	writeJSON(w, http.StatusOK, struct {
		Silence alert.Silence `json:"silence"`
	}{sil})
}

// alertError maps an alert engine error to an HTTP answer; the detail of an
// unexpected error is logged, not shown.
func (s *Server) alertError(w http.ResponseWriter, r *http.Request, op string, err error) {
	switch {
	case errors.Is(err, alert.ErrInvalidSilence):
		writeError(w, http.StatusBadRequest, "invalid_silence", strings.TrimPrefix(err.Error(), alert.ErrInvalidSilence.Error()+": "))
	case errors.Is(err, alert.ErrSilenceNotFound):
		writeError(w, http.StatusNotFound, "silence_not_found", "no silence has this id")
	case errors.Is(err, context.Canceled):
		// The client went away; nobody reads the answer.
		writeError(w, 499, "client_closed", "request cancelled")
	default:
		s.log.ErrorContext(r.Context(), "alert operation failed", "op", op, "route", r.Pattern, "error", err)
		writeError(w, http.StatusInternalServerError, "internal", "internal error")
	}
}

// decodeStatus is the HTTP status of a body decoding failure.
func decodeStatus(code string) int {
	switch code {
	case "body_too_large":
		return http.StatusRequestEntityTooLarge
	case "unsupported_media_type":
		return http.StatusUnsupportedMediaType
	}
	return http.StatusBadRequest
}

// silenceRequest is the body of POST /v1/alerts/silences. Times are read
// as strings and the duration as raw JSON so that their errors name the
// field.
type silenceRequest struct {
	Matchers  []string `json:"matchers"`
	StartsAt  *string  `json:"starts_at"`
	EndsAt    *string  `json:"ends_at"`
	Duration  rawField `json:"duration"`
	CreatedBy string   `json:"created_by"`
	Comment   string   `json:"comment"`
}

// rawField keeps a field's JSON as it came; it stays nil when the field is
// absent or null.
type rawField []byte

// UnmarshalJSON implements json.Unmarshaler.
func (f *rawField) UnmarshalJSON(b []byte) error {
	if bytes.Equal(b, []byte("null")) {
		*f = nil
		return nil
	}
	*f = append((*f)[:0], b...)
	return nil
}

// decodeSilence reads and checks a silence body as of now, refusing bodies
// over max bytes, non-JSON content types, unknown fields, trailing data,
// wrong types and every invalid value, with a message naming the field.
// An accepted silence has at least one parsed matcher, not all of them
// matching the empty string; StartsAt no earlier than now (a past or
// missing starts_at means now); EndsAt after StartsAt and at most 90 days
// later; and a CreatedBy and Comment within their limits. On failure it
// returns an error code and a message safe to show.
func decodeSilence(w http.ResponseWriter, r *http.Request, max int64, now time.Time) (alert.Silence, string, string) {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
			return alert.Silence{}, "unsupported_media_type", "the body must be application/json"
		}
	}
	var req silenceRequest
	if code, msg := decodeJSON(http.MaxBytesReader(w, r.Body, max), &req); code != "" {
		return alert.Silence{}, code, msg
	}
	sil, msg := req.silence(now)
	if msg != "" {
		return alert.Silence{}, "invalid_silence", msg
	}
	return sil, "", ""
}

// silence checks the request and builds the Silence, or returns why not.
func (req *silenceRequest) silence(now time.Time) (alert.Silence, string) {
	var sil alert.Silence
	switch {
	case len(req.Matchers) == 0:
		return sil, "matchers: at least one matcher is required, e.g. [\"alertname=\\\"RedisDown\\\"\"]"
	case len(req.Matchers) > maxSilenceMatchers:
		return sil, fmt.Sprintf("matchers: at most %d matchers are allowed", maxSilenceMatchers)
	}
	nonEmpty := false
	for i, text := range req.Matchers {
		m, err := alert.ParseMatcher(text)
		if err != nil {
			return sil, fmt.Sprintf("matchers[%d]: %v", i, err)
		}
		if !m.Matches("") {
			nonEmpty = true
		}
		sil.Matchers = append(sil.Matchers, m)
	}
	if !nonEmpty {
		return sil, "matchers: at least one matcher must not match the empty string (otherwise the silence would mute every alert)"
	}

	// start is when the silence takes effect: starts_at, or now if that
	// is earlier or not given.
	start := now
	var given time.Time
	if req.StartsAt != nil {
		t, err := time.Parse(time.RFC3339, *req.StartsAt)
		if err != nil {
			return sil, "starts_at: want an RFC 3339 time such as 2026-01-02T15:04:05Z"
		}
		if t.Sub(now) > maxSilenceAhead {
			return sil, "starts_at: a silence may start at most 365 days from now"
		}
		given = t.UTC()
		if given.After(now) {
			start = given
		}
	}
	hasDuration := req.Duration != nil
	switch {
	case req.EndsAt != nil && hasDuration:
		return sil, "give either ends_at or duration, not both"
	case req.EndsAt == nil && !hasDuration:
		return sil, "ends_at or duration is required"
	}
	var end time.Time
	if hasDuration {
		var d jsonDuration
		if err := d.UnmarshalJSON(req.Duration); err != nil {
			return sil, "duration: want a duration such as \"2h\" or a number of seconds"
		}
		switch {
		case d <= 0:
			return sil, "duration must be positive"
		case time.Duration(d) > maxSilenceLength:
			return sil, "duration must be at most 90 days (2160h)"
		}
		end = start.Add(time.Duration(d))
	} else {
		t, err := time.Parse(time.RFC3339, *req.EndsAt)
		if err != nil {
			return sil, "ends_at: want an RFC 3339 time such as 2026-01-02T15:04:05Z"
		}
		switch {
		case req.StartsAt != nil && !t.After(given):
			return sil, "ends_at must be after starts_at"
		case !t.After(now):
			return sil, "ends_at must be in the future"
		case t.Sub(start) > maxSilenceLength:
			return sil, "a silence may last at most 90 days: ends_at is too far after starts_at"
		}
		end = t.UTC()
	}

	switch {
	case strings.TrimSpace(req.CreatedBy) == "":
		return sil, "created_by is required: who is creating the silence"
	case len(req.CreatedBy) > maxCreatedByLen:
		return sil, fmt.Sprintf("created_by must be at most %d bytes", maxCreatedByLen)
	case strings.ContainsFunc(req.CreatedBy, func(c rune) bool { return c < 0x20 || c == 0x7f }):
		return sil, "created_by must not contain control characters"
	case strings.TrimSpace(req.Comment) == "":
		return sil, "comment is required: why the alerts are silenced"
	case len(req.Comment) > maxCommentLen:
		return sil, fmt.Sprintf("comment must be at most %d bytes", maxCommentLen)
	}
	sil.StartsAt, sil.EndsAt = start, end
	sil.CreatedBy, sil.Comment = req.CreatedBy, req.Comment
	return sil, ""
}
