package apierror

import (
	"net/http/httptest"
	"testing"
)

func TestWrite(t *testing.T) {
	for _, tc := range []struct {
		e    Error
		want string
	}{
		{Error{Code: "not_found", Message: "no such route"}, `{"error":{"code":"not_found","message":"no such route"}}`},
		{Error{Code: "invalid_session", Message: "the session was revoked", Reason: "revoked"}, `{"error":{"code":"invalid_session","message":"the session was revoked","reason":"revoked"}}`},
		{Error{Code: "x", Message: `quote " and <tag>`}, `{"error":{"code":"x","message":"quote \" and \u003ctag\u003e"}}`},
	} {
		w := httptest.NewRecorder()
		Write(w, 418, tc.e)
		if w.Code != 418 || w.Body.String() != tc.want+"\n" || w.Header().Get("Content-Type") != "application/json" || w.Header().Get("Cache-Control") != "no-store" {
			t.Errorf("%d %q %v; want 418 %q", w.Code, w.Body.String(), w.Header(), tc.want)
		}
	}
}
