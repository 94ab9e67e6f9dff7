package httpbody

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

// countingBody is a body of n bytes that counts what is read of it.
type countingBody struct{ left, read int64 }

func (b *countingBody) Read(p []byte) (int, error) {
	if b.left == 0 {
		return 0, io.EOF
	}
	n := min(int64(len(p)), b.left)
	b.left -= n
	b.read += n
	return int(n), nil
}

func (b *countingBody) Close() error { return nil }

func TestDiscard(t *testing.T) {
	cases := []struct {
		name         string
		size, length int64 // length: the declared Content-Length, -1 for none
		expect       bool
		started      bool
		wantRead     int64
	}{
		{name: "declared, read whole", size: 6 << 20, length: 6 << 20, wantRead: 6 << 20},
		{name: "chunked, read whole", size: 6 << 20, length: -1, started: true, wantRead: 6 << 20},
		{name: "declared over the bound: nothing read", size: DiscardMax + 1, length: DiscardMax + 1, wantRead: 0},
		{name: "chunked over the bound: read up to it", size: DiscardMax + 100, length: -1, started: true, wantRead: DiscardMax},
		{name: "waiting for 100 Continue: nothing read", size: 6 << 20, length: 6 << 20, expect: true, wantRead: 0},
		{name: "100 Continue already sent: read whole", size: 6 << 20, length: 6 << 20, expect: true, started: true, wantRead: 6 << 20},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			body := &countingBody{left: tc.size}
			r := httptest.NewRequest(http.MethodPost, "/", nil)
			r.Body, r.ContentLength = body, tc.length
			if tc.expect {
				r.Header.Set("Expect", "100-continue")
			}
			w := httptest.NewRecorder()
			Discard(w, r, tc.started)
			if body.read != tc.wantRead {
				t.Errorf("read %d bytes, want %d", body.read, tc.wantRead)
			}
			if got := w.Header().Get("Connection"); got != "close" {
				t.Errorf("Connection %q, want close", got)
			}
		})
	}
}
