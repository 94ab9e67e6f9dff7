// Package httpbody lets a handler refuse a request body over its limit
// with an answer the client can read.
//
// A server that answers 413 while the client is still sending, and then
// closes the connection, makes the kernel reset it: a client that writes its
// whole body before reading (most do) sees "connection reset" instead of the
// answer. Discard reads what remains of the body first, within bounds.
package httpbody

import (
	"io"
	"net/http"
	"strings"
	"time"
)

// Bounds of Discard.
const (
	// DiscardMax is the most of a body Discard reads, beyond what the
	// handler read: several times the limits of the API (1 MiB) and the
	// webhook (4 MiB), so that a client well over them is told, while a
	// body larger still is not worth the bandwidth.
	DiscardMax = 32 << 20
	// DiscardTimeout bounds the time Discard spends reading, so that a
	// slow client cannot hold a handler.
	DiscardTimeout = 10 * time.Second
)

// Discard prepares the 413 answer to a request whose body is over its
// limit; the caller writes the answer afterwards. It marks the answer
// Connection: close and reads and throws away the rest of r.Body (the
// request's own body, not a limiting reader around it), at most DiscardMax
// bytes and for at most DiscardTimeout. It reads nothing when the body
// declares more than DiscardMax bytes, or when the client waits for
// "100 Continue" before sending a body that was not read yet (started
// false): then the client has not sent it.
func Discard(w http.ResponseWriter, r *http.Request, started bool) {
	w.Header().Set("Connection", "close")
	if r.Body == nil || r.ContentLength > DiscardMax {
		return
	}
	if !started && strings.EqualFold(r.Header.Get("Expect"), "100-continue") {
		return
	}
	// Not every ResponseWriter has a connection deadline (a test
	// recorder); without one the read is bounded by size alone.
	_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(DiscardTimeout))
	_, _ = io.CopyN(io.Discard, r.Body, DiscardMax)
}
