package api

import (
	"context"
	"io"
	"net"
	"net/http"
	"time"
)

// EdgeConfig bounds what one client can hold of the HTTP server: time to
// send a request, to take its answer, to keep an idle connection, header
// bytes, and connections per client address. A zero field sets no bound
// (as Go's server has none by default); cmd/attrib gives every one a
// default.
type EdgeConfig struct {
	// ReadHeaderTimeout bounds the arrival of a request's headers.
	ReadHeaderTimeout time.Duration
	// ReadTimeout bounds the arrival of a whole request, headers and body;
	// a body still trickling in then is cut off.
	ReadTimeout time.Duration
	// WriteTimeout bounds the time from the end of a request's headers to
	// the end of its answer. A streamed answer (StreamWriter) extends it by
	// as much before each write, so that only a client that stops reading
	// is cut off.
	WriteTimeout time.Duration
	// IdleTimeout is how long a keep-alive connection may wait for its
	// next request.
	IdleTimeout time.Duration
	// MaxHeaderBytes bounds the request line and headers.
	MaxHeaderBytes int
	// MaxConnsPerClient caps the open connections of one client address
	// (see LimitConnsPerClient).
	MaxConnsPerClient int
}

// NewHTTPServer returns a server of h with cfg's bounds. Serve it on a
// listener wrapped by LimitConnsPerClient(ln, cfg.MaxConnsPerClient) for
// the connection cap.
func NewHTTPServer(cfg EdgeConfig, h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: cfg.ReadHeaderTimeout,
		ReadTimeout:       cfg.ReadTimeout,
		WriteTimeout:      cfg.WriteTimeout,
		IdleTimeout:       cfg.IdleTimeout,
		MaxHeaderBytes:    cfg.MaxHeaderBytes,
		// Handlers that stream learn from the context by how much to
		// extend their write deadline.
		BaseContext: func(net.Listener) context.Context {
			return context.WithValue(context.Background(), writeTimeoutKey{}, cfg.WriteTimeout)
		},
	}
}

type writeTimeoutKey struct{}

// StreamWriter returns w as a writer for a long answer that must stream
// past the server's write timeout (the CSV export): before each write it
// pushes the connection's write deadline to now plus the write timeout of
// the server (NewHTTPServer's), so that the stream lasts as long as the
// client keeps reading, and a client that stops reading for a whole write
// timeout is cut off. Under a server that does not say its write timeout
// (a test's), w is returned as it is.
func StreamWriter(w http.ResponseWriter, r *http.Request) io.Writer {
	step, _ := r.Context().Value(writeTimeoutKey{}).(time.Duration)
	if step <= 0 {
		return w
	}
	return &deadlineWriter{w: w, rc: http.NewResponseController(w), step: step}
}

// deadlineWriter extends its connection's write deadline before each write.
type deadlineWriter struct {
	w    io.Writer
	rc   *http.ResponseController
	step time.Duration
}

func (d *deadlineWriter) Write(p []byte) (int, error) {
	// An error means the writer cannot set deadlines: the server's own
	// deadline then stands, which is the best that can be done.
	_ = d.rc.SetWriteDeadline(time.Now().Add(d.step))
	return d.w.Write(p)
}
