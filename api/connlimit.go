package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/attrib-engine/attrib/internal/promreg"
)

// CodeTooManyConnections is the error code of the answer to a connection
// over its client's cap (LimitConnsPerClient).
const CodeTooManyConnections = "too_many_connections"

// refusing bounds the connections being refused at once: past it, a
// refused connection is closed without an answer, so that a flood of them
// costs the server no more than this many goroutines.
const refusing = 1024

// refuseLinger bounds each wait of a refused connection: for its
// request's headers, to write its answer, then reading (and discarding)
// what it still sends, so that the client reads the answer rather than a
// reset caused by its unread request.
const refuseLinger = time.Second

// LimitConnsPerClient returns a listener that lets each client address
// hold at most max open connections (max <= 0: no cap). A connection over
// the cap is answered at once with 429 and the API's JSON error (code
// too_many_connections, a Retry-After of 1 second) and closed; the
// client's other connections, and every other client, are unaffected. An
// IPv6 client is its /64 network (what one host or household is given).
//
// Behind a reverse proxy every client has the proxy's address: there the
// cap belongs on the proxy, and max here should be 0 or above the proxy's
// own connection count. reg, when not nil, gets
// attrib_http_connections_refused_total.
func LimitConnsPerClient(ln net.Listener, max int, reg prometheus.Registerer) net.Listener {
	if max <= 0 {
		return ln
	}
	refused := promreg.With(reg).Counter(prometheus.CounterOpts{
		Name: "attrib_http_connections_refused_total",
		Help: "Connections answered 429 because their client address had the most connections it may hold open.",
	})
	return &clientLimitListener{Listener: ln, max: max, open: map[netip.Prefix]int{}, refused: refused}
}

type clientLimitListener struct {
	net.Listener
	max      int
	refused  prometheus.Counter
	mu       sync.Mutex
	open     map[netip.Prefix]int
	refusing atomic.Int64
}

// Accept returns the next connection within its client's cap, answering
// and closing those over it.
func (l *clientLimitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		client, ok := clientOf(c.RemoteAddr())
		if !ok {
			return c, nil // not TCP/IP (a test's pipe): nothing to key on
		}
		l.mu.Lock()
		n := l.open[client]
		if n < l.max {
			l.open[client] = n + 1
		}
		l.mu.Unlock()
		if n < l.max {
			return &limitedConn{Conn: c, release: func() { l.release(client) }}, nil
		}
		l.refused.Inc()
		if l.refusing.Add(1) > refusing {
			l.refusing.Add(-1)
			_ = c.Close()
			continue
		}
		go func() {
			defer l.refusing.Add(-1)
			refuse(c, l.max)
		}()
	}
}

func (l *clientLimitListener) release(client netip.Prefix) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.open[client] <= 1 {
		delete(l.open, client)
	} else {
		l.open[client]--
	}
}

// clientOf returns the key of a client address: the IPv4 address, or the
// /64 of an IPv6 one.
func clientOf(addr net.Addr) (netip.Prefix, bool) {
	tcp, ok := addr.(*net.TCPAddr)
	if !ok {
		return netip.Prefix{}, false
	}
	ip, ok := netip.AddrFromSlice(tcp.IP)
	if !ok {
		return netip.Prefix{}, false
	}
	ip = ip.Unmap()
	bits := 32
	if ip.Is6() {
		bits = 64
	}
	p, err := ip.Prefix(bits)
	return p, err == nil
}

// limitedConn gives its client's place back when closed (once).
type limitedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitedConn) Close() error {
	c.once.Do(c.release)
	return c.Conn.Close()
}

// CloseWrite half-closes a TCP connection, as the server does after an
// early answer (a 413) so that the client reads it rather than a reset.
func (c *limitedConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// refuse answers c with 429 and closes it. It waits (briefly) for the
// request's headers first: a client answered before it sent its request
// takes the answer for a stray one and reports a broken connection. After
// the answer it discards what the client still sends for a moment, so
// that the client reads the answer rather than a reset.
func refuse(c net.Conn, max int) {
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(refuseLinger))
	var buf [4096]byte
	var seen []byte
	for len(seen) < 64<<10 && !bytes.Contains(seen, []byte("\r\n\r\n")) {
		n, err := c.Read(buf[:])
		seen = append(seen, buf[:n]...)
		if err != nil {
			break
		}
	}
	body, _ := json.Marshal(errorBody{Error: errorDetail{Code: CodeTooManyConnections,
		Message: fmt.Sprintf("this client address already has %d connections open, the most it may; reuse or close one, then retry", max)}})
	_ = c.SetWriteDeadline(time.Now().Add(refuseLinger))
	if _, err := fmt.Fprintf(c, "HTTP/1.1 429 Too Many Requests\r\nContent-Type: application/json\r\nRetry-After: 1\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%s", len(body), body); err != nil {
		return
	}
	if tc, ok := c.(interface{ CloseWrite() error }); ok {
		_ = tc.CloseWrite()
	}
	_ = c.SetReadDeadline(time.Now().Add(refuseLinger))
	for {
		if _, err := c.Read(buf[:]); err != nil {
			return
		}
	}
}
