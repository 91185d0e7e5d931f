package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"net/http"
	"reflect"
	"strings"
	"time"
)

// jsonDuration accepts a Go duration string ("90m", "24h") or a number of
// seconds (86400, 1.5).
type jsonDuration time.Duration

// durationType is how decodeJSON recognises jsonDuration's errors.
var durationType = reflect.TypeFor[jsonDuration]()

// UnmarshalJSON implements json.Unmarshaler. Its errors are
// *json.UnmarshalTypeError, which encoding/json completes with the
// field's name.
func (d *jsonDuration) UnmarshalJSON(b []byte) error {
	if bytes.Equal(b, []byte("null")) {
		*d = 0
		return nil
	}
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return &json.UnmarshalTypeError{Value: "string", Type: durationType}
		}
		v, err := time.ParseDuration(s)
		if err != nil {
			return &json.UnmarshalTypeError{Value: "string", Type: durationType}
		}
		*d = jsonDuration(v)
		return nil
	}
	var secs float64
	if err := json.Unmarshal(b, &secs); err != nil {
		return &json.UnmarshalTypeError{Value: jsonKind(b), Type: durationType}
	}
	if math.IsNaN(secs) || math.Abs(secs) > float64(math.MaxInt64/int64(time.Second)) {
		return &json.UnmarshalTypeError{Value: "number", Type: durationType}
	}
	*d = jsonDuration(secs * float64(time.Second))
	return nil
}

// jsonKind names the kind of a JSON value by its first byte.
func jsonKind(b []byte) string {
	switch {
	case len(b) == 0:
		return "empty"
	case b[0] == 't' || b[0] == 'f':
		return "bool"
	case b[0] == '{':
		return "object"
	case b[0] == '[':
		return "array"
	case b[0] == '-' || (b[0] >= '0' && b[0] <= '9'):
		return "number"
	}
	return "value"
}

// createRequest is the body of POST /v1/sessions.
type createRequest struct {
	UserID      string            `json:"user_id"`
	TTL         jsonDuration      `json:"ttl"`
	IdleTimeout jsonDuration      `json:"idle_timeout"`
	Metadata    map[string]string `json:"metadata"`
}

// decodeCreate reads and decodes a create body, refusing bodies over max
// bytes, unknown fields, trailing data and non-JSON content types. On
// failure it returns the error code and a message safe to show.
func decodeCreate(w http.ResponseWriter, r *http.Request, max int64) (createRequest, string, string) {
	var req createRequest
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
			return req, "unsupported_media_type", "the body must be application/json"
		}
	}
	body := http.MaxBytesReader(w, r.Body, max)
	code, msg := decodeJSON(body, &req)
	return req, code, msg
}

// decodeJSON decodes exactly one JSON object from r into v. It returns an
// error code and message, or two empty strings.
func decodeJSON(r io.Reader, v any) (code, msg string) {
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil {
		if _, terr := dec.Token(); !errors.Is(terr, io.EOF) {
			var mbe *http.MaxBytesError
			if errors.As(terr, &mbe) {
				err = terr
			} else {
				return "invalid_json", "the body must hold exactly one JSON object"
			}
		}
	}
	if err == nil {
		return "", ""
	}
	var (
		mbe *http.MaxBytesError
		se  *json.SyntaxError
		te  *json.UnmarshalTypeError
	)
	switch {
	case errors.As(err, &mbe):
		return "body_too_large", fmt.Sprintf("the body is larger than %d bytes", mbe.Limit)
	case errors.Is(err, io.EOF):
		return "invalid_json", "the body is empty"
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "invalid_json", "the body is truncated JSON"
	case errors.As(err, &se):
		return "invalid_json", fmt.Sprintf("malformed JSON at byte %d", se.Offset)
	case errors.As(err, &te) && te.Type == durationType:
		if te.Value == "number" {
			return "invalid_json", te.Field + ": the number of seconds is out of range"
		}
		return "invalid_json", te.Field + `: want a duration like "24h" or a number of seconds`
	case errors.As(err, &te):
		if te.Field == "" {
			return "invalid_json", "the body must be a JSON object"
		}
		return "invalid_json", fmt.Sprintf("field %q must be a %s", te.Field, te.Type)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return "unknown_field", "unknown field " + strings.TrimPrefix(err.Error(), "json: unknown field ")
	default:
		return "invalid_json", err.Error()
	}
}
