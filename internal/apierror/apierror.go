// Package apierror writes Studio's JSON error responses, the one shape
// every route answers with: {"error":{"code":"…","message":"…"}}, plus
// "reason" when a session token is refused.
package apierror

import (
	"encoding/json"
	"net/http"
)

// Error is the body of an error response. Code is stable and meant for
// programs; Message is for people and never carries internal detail;
// Reason, on a 401 for a session token, says why it was refused in one
// stable word, and is absent elsewhere.
type Error struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Reason  string `json:"reason,omitempty"`
}

// Write answers status with e as {"error":e}, not cached.
func Write(w http.ResponseWriter, status int, e Error) {
	WriteJSON(w, status, struct {
		Error Error `json:"error"`
	}{e})
}

// WriteJSON answers status with v encoded as JSON, not cached.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
