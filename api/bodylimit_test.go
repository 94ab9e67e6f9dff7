package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/attrib-engine/attrib/api"
	"github.com/attrib-engine/attrib/catalog"
	"github.com/attrib-engine/attrib/internal/testenv"
)

// countingRegistrar counts the registrations that reach it.
type countingRegistrar struct {
	unused
	calls atomic.Int64
}

func (c *countingRegistrar) RegisterCreator(context.Context, catalog.RegisterCreator) error {
	c.calls.Add(1)
	return nil
}

// TestOversizedBodyIsAnswered: a client that writes a 6 MB body whole
// before reading (a plain TCP client: net/http's stops writing on an early
// answer) reads a 413 in the API's error shape, with Connection: close,
// instead of a reset connection, whether the body declares its length or
// comes in chunks, and whatever its token; nothing is recorded.
func TestOversizedBodyIsAnswered(t *testing.T) {
	reg := &countingRegistrar{}
	srv, err := api.New(api.Config{Commands: unused{}, Registrar: reg, Catalog: unused{}, MasterKey: make([]byte, 32), AdminToken: "admin-token"})
	if err != nil {
		t.Fatal(err)
	}
	mux := api.NewMux()
	srv.Register(mux)
	hs := httptest.NewServer(mux)
	defer hs.Close()
	addr := strings.TrimPrefix(hs.URL, "http://")

	body := append(append([]byte(`{"name":"`), bytes.Repeat([]byte("x"), 6<<20)...), `","email":"a@example.com"}`...)
	for _, tc := range []struct {
		name    string
		token   string
		chunked bool
	}{
		{"length declared", "admin-token", false},
		{"chunked", "admin-token", true},
		{"length declared, bad token", "nope", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, raw := testenv.RawPost(t, addr, "/v1/creators", http.Header{"Authorization": {"Bearer " + tc.token}}, body, tc.chunked)
			if resp.StatusCode != http.StatusRequestEntityTooLarge {
				t.Fatalf("status %d, want 413; body %q", resp.StatusCode, raw)
			}
			if !resp.Close {
				t.Error("no Connection: close")
			}
			var e struct {
				Error struct{ Code, Message string }
			}
			if err := json.Unmarshal(raw, &e); err != nil || e.Error.Code != "too_large" || !strings.Contains(e.Error.Message, "body larger than") {
				t.Errorf("answer %q (%v), want the error shape with code too_large", raw, err)
			}
		})
	}
	if n := reg.calls.Load(); n != 0 {
		t.Errorf("%d registrations after oversized bodies, want none", n)
	}
	// A body within the limit still goes through.
	resp, raw := testenv.RawPost(t, addr, "/v1/creators", http.Header{"Authorization": {"Bearer admin-token"}},
		[]byte(`{"name":"Anna","email":"anna@example.com"}`), false)
	if resp.StatusCode != http.StatusCreated || reg.calls.Load() != 1 {
		t.Errorf("small body: status %d %q, %d registrations; want 201 and 1", resp.StatusCode, raw, reg.calls.Load())
	}
}
