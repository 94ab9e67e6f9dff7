package api_test

import (
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"
)

// tokenOf returns a token of a role that may call the route.
func tokenOf(roles []string) string {
	for _, role := range roles {
		switch role {
		case "admin":
			return tokAdmin
		case "brand":
			return tokBrand1
		case "creator":
			return tokCreator1
		}
	}
	return ""
}

// TestHostileBodies sends every route that reads a JSON body (from
// routeAccessTable, so a new one is covered) bodies built to hurt a
// decoder: nested 100,000 levels deep, over the size limit, two values,
// an array, truncated, empty (where a body is required). Each is refused with 400 naming the body (413 when
// too large) before anything is recorded.
func TestHostileBodies(t *testing.T) {
	mux, rec := tenancyServer(t)
	deep := `{"name":` + strings.Repeat("[", 100000) + strings.Repeat("]", 100000) + `}`
	bodies := []struct {
		name, body string
		status     int
		code       string
		message    string
	}{
		{"nested 100,000 deep", deep, 400, "invalid_field", "body: invalid JSON at byte"},
		{"over the limit", `{"name":"` + strings.Repeat("x", 2<<20) + `"}`, 413, "too_large", "body larger than"},
		{"two values", `{"name":"a"}{"name":"b"}`, 400, "invalid_field", "body: one JSON object expected"},
		{"an array", `[{"name":"a"}]`, 400, "invalid_field", "body: want a JSON object"},
		{"truncated", `{"name":"a`, 400, "invalid_field", "body: "},
		{"empty", ``, 400, "invalid_field", "body: empty"},
		{"invalid UTF-8", "{\"name\":\"An\xffna\",\"reason\":\"x\xc3\"}", 400, "invalid_field", "body: not valid UTF-8 at byte 11"},
	}
	routes := 0
	for pattern, access := range routeAccessTable {
		if access.body == "" || access.public {
			continue
		}
		routes++
		method, _, _ := strings.Cut(pattern, " ")
		for _, b := range bodies {
			if b.body == "" && access.optionalBody {
				continue
			}
			t.Run(pattern+" "+b.name, func(t *testing.T) {
				req := httptest.NewRequest(method, access.path, strings.NewReader(b.body))
				req.Header.Set("Authorization", "Bearer "+tokenOf(access.roles))
				w := httptest.NewRecorder()
				mux.ServeHTTP(w, req)
				var answer struct {
					Error struct{ Code, Message, Field string }
				}
				if err := json.Unmarshal(w.Body.Bytes(), &answer); err != nil {
					t.Fatalf("answer %d is not JSON: %q", w.Code, w.Body)
				}
				if w.Code != b.status || answer.Error.Code != b.code || !strings.Contains(answer.Error.Message, b.message) {
					t.Errorf("got %d %s, want %d %s with %q", w.Code, w.Body, b.status, b.code, b.message)
				}
				if cmds, regs := rec.take(); len(cmds)+len(regs) != 0 {
					t.Errorf("refused body recorded %v %v", cmds, regs)
				}
			})
		}
	}
	if routes == 0 {
		t.Fatal("no route with a body in routeAccessTable")
	}
}
