package server

import (
	"encoding/json"
	"net/http"
)

// apiError is the body of every error response:
// {"error":{"code":"…","message":"…"}}. Code is stable and meant for
// programs; Message is for people and never carries internal detail.
// Reason, on a 401 for a session token, says why it was refused in one
// stable word (reason* below); it is absent elsewhere.
type apiError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Reason  string `json:"reason,omitempty"`
}

// The reasons a session token is refused, in the "reason" field of a 401.
const (
	reasonMalformed = "malformed" // not a token Studio issued (shape or checksum)
	reasonUnknown   = "unknown"   // well formed, but no session has it
	reasonRevoked   = "revoked"   // the session was revoked
	reasonExpired   = "expired"   // the session passed its absolute expiry
	reasonIdle      = "idle"      // the session was unused for longer than its idle timeout
)

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, code, message string) {
	writeErrorReason(w, status, code, message, "")
}

// writeErrorReason is writeError with a reason ("" for none).
func writeErrorReason(w http.ResponseWriter, status int, code, message, reason string) {
	writeJSON(w, status, struct {
		Error apiError `json:"error"`
	}{apiError{Code: code, Message: message, Reason: reason}})
}
