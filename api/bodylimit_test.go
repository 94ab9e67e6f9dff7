package api_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/attrib-engine/attrib/api"
	"github.com/attrib-engine/attrib/catalog"
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
			resp, raw := rawPost(t, addr, "/v1/creators", http.Header{"Authorization": {"Bearer " + tc.token}}, body, tc.chunked)
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
	resp, raw := rawPost(t, addr, "/v1/creators", http.Header{"Authorization": {"Bearer admin-token"}},
		[]byte(`{"name":"Anna","email":"anna@example.com"}`), false)
	if resp.StatusCode != http.StatusCreated || reg.calls.Load() != 1 {
		t.Errorf("small body: status %d %q, %d registrations; want 201 and 1", resp.StatusCode, raw, reg.calls.Load())
	}
}

// rawPost sends a POST with body over a plain TCP connection, writing all
// of it (with a Content-Length, or in chunks) before reading the answer,
// which it returns with its body. A server that does not read the body
// makes the write fail.
func rawPost(t *testing.T, addr, path string, header http.Header, body []byte, chunked bool) (*http.Response, []byte) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// Only so that a broken server fails the test instead of hanging it.
	_ = conn.SetDeadline(time.Now().Add(2 * time.Minute))
	var b bytes.Buffer
	fmt.Fprintf(&b, "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n", path, addr)
	for k, vs := range header {
		for _, v := range vs {
			fmt.Fprintf(&b, "%s: %s\r\n", k, v)
		}
	}
	if chunked {
		b.WriteString("Transfer-Encoding: chunked\r\n\r\n")
		for rest := body; len(rest) > 0; {
			n := min(len(rest), 64<<10)
			fmt.Fprintf(&b, "%x\r\n%s\r\n", n, rest[:n])
			rest = rest[n:]
		}
		b.WriteString("0\r\n\r\n")
	} else {
		fmt.Fprintf(&b, "Content-Length: %d\r\n\r\n%s", len(body), body)
	}
	if _, err := conn.Write(b.Bytes()); err != nil {
		t.Fatalf("write the whole request: %v", err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("read the answer: %v", err)
	}
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read the answer's body: %v", err)
	}
	return resp, raw
}
