package server

import (
	"net/http"

	"github.com/studiohq/studio/internal/apierror"
)

// The reasons a session token is refused, in the "reason" field of a 401.
const (
	reasonMalformed = "malformed" // not a token Studio issued (shape or checksum)
	reasonUnknown   = "unknown"   // well formed, but no session has it
	reasonRevoked   = "revoked"   // the session was revoked
	reasonExpired   = "expired"   // the session passed its absolute expiry
	reasonIdle      = "idle"      // the session was unused for longer than its idle timeout
)

func writeJSON(w http.ResponseWriter, status int, v any) { apierror.WriteJSON(w, status, v) }

func writeError(w http.ResponseWriter, status int, code, message string) {
	apierror.Write(w, status, apierror.Error{Code: code, Message: message})
}

// writeErrorReason is writeError with a reason ("" for none).
func writeErrorReason(w http.ResponseWriter, status int, code, message, reason string) {
	apierror.Write(w, status, apierror.Error{Code: code, Message: message, Reason: reason})
}
