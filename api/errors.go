package api

import "net/http"

// errorBody is the error shape of API.md:
// {"error": {"code": "invalid_field", "message": "...", "field": "amount"}}.
type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
}

// writeError writes an API error; field is the offending field, if any.
func writeError(w http.ResponseWriter, status int, code, message, field string) {
	writeJSON(w, status, errorBody{Error: errorDetail{Code: code, Message: message, Field: field}})
}
