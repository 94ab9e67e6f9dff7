package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/attrib-engine/attrib/internal/httpbody"
)

// apiError is an error with its HTTP answer; handlers return it and
// respond writes it, so status codes are decided in one place.
type apiError struct {
	status  int
	code    string
	message string
	field   string
}

func (e *apiError) Error() string { return e.message }

func badField(field, format string, args ...any) *apiError {
	return &apiError{status: http.StatusBadRequest, code: "invalid_field", field: field, message: fmt.Sprintf(format, args...)}
}

func notFound(format string, args ...any) *apiError {
	return &apiError{status: http.StatusNotFound, code: "not_found", message: fmt.Sprintf(format, args...)}
}

func conflict(format string, args ...any) *apiError {
	return &apiError{status: http.StatusConflict, code: "conflict", message: fmt.Sprintf(format, args...)}
}

func unavailable(format string, args ...any) *apiError {
	return &apiError{status: http.StatusServiceUnavailable, code: "unavailable", message: fmt.Sprintf(format, args...)}
}

var (
	errUnauthorized = &apiError{status: http.StatusUnauthorized, code: "unauthorized", message: "missing or invalid bearer token"}
	errForbidden    = &apiError{status: http.StatusForbidden, code: "forbidden", message: "this token's role may not do this"}
)

// respondError writes err: an *apiError as it says, anything else as 500
// (whose detail goes to the log, not to the caller).
func (s *Server) respondError(w http.ResponseWriter, r *http.Request, err error) {
	var ae *apiError
	if errors.As(err, &ae) {
		writeError(w, ae.status, ae.code, ae.message, ae.field)
		return
	}
	s.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	writeError(w, http.StatusInternalServerError, "internal", "internal error; it has been logged", "")
}

// decodeBody decodes a JSON object body into v. Unknown fields are
// tolerated (forward compatibility); a wrong type names the field; a body
// over the limit is 413, which the client can read (httpbody.Discard); a
// body that is not valid UTF-8 is a 400 naming the first bad byte.
func decodeBody(w http.ResponseWriter, r *http.Request, limit int64, v any) error {
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		return bodyError(w, r, err)
	}
	// encoding/json would replace invalid bytes by U+FFFD, silently
	// changing a name or a reason.
	if !utf8.Valid(data) {
		return badField("", "body: not valid UTF-8 at byte %d", invalidUTF8At(data))
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(v); err != nil {
		return bodyError(w, r, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		if err != nil {
			return bodyError(w, r, err)
		}
		return badField("", "body: one JSON object expected, found more after it")
	}
	return nil
}

// invalidUTF8At returns the offset of the first byte of b that is not
// part of a valid UTF-8 sequence (len(b) if there is none).
func invalidUTF8At(b []byte) int {
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n == 1 {
			return i
		}
		i += n
	}
	return len(b)
}

// bodyError maps an error decoding the body of r to the API's error.
func bodyError(w http.ResponseWriter, r *http.Request, err error) error {
	var tooLarge *http.MaxBytesError
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	switch {
	case errors.As(err, &tooLarge):
		httpbody.Discard(w, r, true)
		return errTooLarge(tooLarge.Limit)
	case errors.As(err, &typeErr):
		field := typeErr.Field
		if field == "" {
			return badField("", "body: want a JSON object, got %s", typeErr.Value)
		}
		return badField(field, "%s: want %s, got %s", field, jsonKind(typeErr.Type.Kind().String()), typeErr.Value)
	case errors.As(err, &syntaxErr):
		return badField("", "body: invalid JSON at byte %d: %v", syntaxErr.Offset, err)
	case errors.Is(err, io.EOF):
		return badField("", "body: empty; a JSON object is required")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return badField("", "body: truncated JSON")
	}
	return badField("", "body: %v", err)
}

// errTooLarge is the 413 of a body over limit bytes.
func errTooLarge(limit int64) error {
	return &apiError{status: http.StatusRequestEntityTooLarge, code: "too_large",
		message: fmt.Sprintf("body larger than %d bytes", limit)}
}

// refuseDeclaredTooLarge answers 413, before anything else is done, a
// request whose Content-Length is over the limit, so that even one that
// would be refused for its token reads why; ok is false when it did.
func (s *Server) refuseDeclaredTooLarge(w http.ResponseWriter, r *http.Request) (ok bool) {
	if r.ContentLength <= s.cfg.MaxBodyBytes {
		return true
	}
	httpbody.Discard(w, r, false)
	s.respondError(w, r, errTooLarge(s.cfg.MaxBodyBytes))
	return false
}

func jsonKind(goKind string) string {
	switch goKind {
	case "string":
		return "a string"
	case "int", "int64", "int32", "uint64", "float64":
		return "a number"
	case "bool":
		return "a boolean"
	case "slice":
		return "an array"
	case "struct", "map":
		return "an object"
	}
	return goKind
}

// required returns a bad-field error when s is blank.
func required(field, s string) error {
	if strings.TrimSpace(s) == "" {
		return badField(field, "%s is required", field)
	}
	return nil
}
