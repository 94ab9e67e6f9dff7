package api_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/attrib-engine/attrib/api"
	"github.com/attrib-engine/attrib/readmodel/readmodeltest"
	"github.com/attrib-engine/attrib/reports"
)

// edgeServer serves h on a loopback port within cfg's bounds, as
// cmd/attrib does, and returns its address.
func edgeServer(t *testing.T, cfg api.EdgeConfig, h http.Handler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := api.NewHTTPServer(cfg, h)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(api.LimitConnsPerClient(ln, cfg.MaxConnsPerClient, nil))
	}()
	t.Cleanup(func() {
		_ = srv.Close()
		<-done
	})
	return ln.Addr().String()
}

// dialFrom opens a connection to addr from the loopback address from
// (127.0.0.1, 127.0.0.2, ...: the server sees different clients).
func dialFrom(t *testing.T, from, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// clientFrom is an http.Client whose connections come from the loopback
// address from.
func clientFrom(from string, timeout time.Duration) *http.Client {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
	return &http.Client{Timeout: timeout, Transport: &http.Transport{DialContext: d.DialContext, DisableKeepAlives: true}}
}

// readBody answers 200 once it has the whole body, 408 when it cannot.
var readBody = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	if _, err := io.Copy(io.Discard, r.Body); err != nil {
		http.Error(w, err.Error(), http.StatusRequestTimeout)
		return
	}
	_, _ = io.WriteString(w, "ok")
})

// closedWithin reports whether the server closes c within d, reading and
// dropping whatever it sends first.
func closedWithin(c net.Conn, d time.Duration) bool {
	_ = c.SetReadDeadline(time.Now().Add(d))
	_, err := io.Copy(io.Discard, c)
	var ne net.Error
	return !(errors.As(err, &ne) && ne.Timeout())
}

func TestEdgeCutsOffASlowBody(t *testing.T) {
	const readTimeout = 500 * time.Millisecond
	addr := edgeServer(t, api.EdgeConfig{ReadHeaderTimeout: readTimeout, ReadTimeout: readTimeout, WriteTimeout: time.Minute, IdleTimeout: time.Minute}, readBody)
	c := dialFrom(t, "127.0.0.1", addr)
	// A 1000-byte body at one byte each 20 ms would take 20 s to arrive.
	if _, err := io.WriteString(c, "POST /webhook HTTP/1.1\r\nHost: attrib\r\nContent-Length: 1000\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	closed := make(chan struct{})
	go func() {
		defer close(closed)
		closedWithin(c, time.Minute)
	}()
	start := time.Now()
	// The bound is the read timeout; the margin is for a loaded machine.
	deadline := start.Add(readTimeout + 5*time.Second)
	for i := 0; ; i++ {
		select {
		case <-closed:
			t.Logf("cut off after %v and %d body bytes", time.Since(start).Round(time.Millisecond), i)
			return
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("a body trickling in for %v is still read; the read timeout is %v", time.Since(start).Round(time.Millisecond), readTimeout)
		}
		_, _ = c.Write([]byte{'x'}) // fails once the server has closed
	}
}

func TestEdgeClosesIdleKeepAlive(t *testing.T) {
	const idle = 300 * time.Millisecond
	// The read timeout is long: Go's server falls back to it for idle
	// connections when no idle timeout is set.
	addr := edgeServer(t, api.EdgeConfig{ReadHeaderTimeout: time.Minute, ReadTimeout: time.Minute, WriteTimeout: time.Minute, IdleTimeout: idle}, readBody)
	c := dialFrom(t, "127.0.0.1", addr)
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: attrib\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	res, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, res.Body)
	_ = res.Body.Close()
	if res.StatusCode != http.StatusOK || res.Close {
		t.Fatalf("first request: %d, close %v; want 200 on a kept-alive connection", res.StatusCode, res.Close)
	}
	start := time.Now()
	if !closedWithin(c, idle+5*time.Second) {
		t.Fatalf("an idle keep-alive connection is still open after %v; the idle timeout is %v", time.Since(start).Round(time.Millisecond), idle)
	}
}

func TestEdgeCapsConnectionsPerClient(t *testing.T) {
	const maxConns = 3
	addr := edgeServer(t, api.EdgeConfig{ReadHeaderTimeout: time.Minute, ReadTimeout: time.Minute, WriteTimeout: time.Minute, IdleTimeout: time.Minute, MaxConnsPerClient: maxConns}, readBody)
	var held []net.Conn
	for i := 0; i < maxConns; i++ {
		held = append(held, dialFrom(t, "127.0.0.1", addr))
	}
	// The server counts a connection once it accepts it: the held ones are
	// accepted in order, before the next one from the same address.
	time.Sleep(100 * time.Millisecond)
	// Its request has a body the server never reads: the answer must reach
	// the client all the same, not a reset.
	res, err := clientFrom("127.0.0.1", 5*time.Second).Post("http://"+addr+"/x", "application/json", strings.NewReader(strings.Repeat("x", 1<<20)))
	if err != nil {
		t.Fatalf("a connection over the cap: %v; want a 429 it can read", err)
	}
	body, _ := io.ReadAll(res.Body)
	_ = res.Body.Close()
	var e struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	if res.StatusCode != http.StatusTooManyRequests || json.Unmarshal(body, &e) != nil || e.Error.Code != api.CodeTooManyConnections ||
		res.Header.Get("Retry-After") == "" || !strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") {
		t.Fatalf("over the cap: %d %v %s; want 429, Retry-After and the JSON error %s", res.StatusCode, res.Header, body, api.CodeTooManyConnections)
	}
	t.Logf("over the cap: %s", body)
	if code := getStatus(t, clientFrom("127.0.0.2", 5*time.Second), addr); code != http.StatusOK {
		t.Fatalf("another client address: %d, want 200", code)
	}
	// A closed connection gives its place back.
	_ = held[0].Close()
	var code int
	for end := time.Now().Add(5 * time.Second); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		if code = getStatus(t, clientFrom("127.0.0.1", 5*time.Second), addr); code == http.StatusOK {
			return
		}
	}
	t.Fatalf("after one of its connections closed, the client still gets %d", code)
}

func getStatus(t *testing.T, c *http.Client, addr string) int {
	t.Helper()
	res, err := c.Get("http://" + addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, res.Body)
	_ = res.Body.Close()
	return res.StatusCode
}

func TestEdgeSlowClientsDoNotBlockOthers(t *testing.T) {
	const slow, maxConns = 200, 16
	addr := edgeServer(t, api.EdgeConfig{ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 10 * time.Second, WriteTimeout: time.Minute, IdleTimeout: time.Minute, MaxConnsPerClient: maxConns}, readBody)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })
	// Slow clients from one address: headers at one byte each 50 ms.
	for i := 0; i < slow; i++ {
		c := dialFrom(t, "127.0.0.1", addr)
		wg.Add(1)
		go func() {
			defer wg.Done()
			req := fmt.Sprintf("POST /x HTTP/1.1\r\nHost: attrib\r\nX-Slow: %d\r\nContent-Length: 10\r\n\r\n0123456789", i)
			for j := 0; j < len(req); j++ {
				select {
				case <-ctx.Done():
					return
				case <-time.After(50 * time.Millisecond):
				}
				if _, err := c.Write([]byte{req[j]}); err != nil {
					return
				}
			}
		}()
	}
	time.Sleep(200 * time.Millisecond)
	// The honest client, from another address, is answered at once: the
	// bound of a second is the behaviour asked for, with room for a loaded
	// machine (the client's timeout fails the request past it).
	res, err := clientFrom("127.0.0.2", time.Second).Post("http://"+addr+"/x", "application/json", strings.NewReader(`{}`))
	if err != nil {
		t.Fatalf("an honest client beside %d slow ones: %v", slow, err)
	}
	body, _ := io.ReadAll(res.Body)
	_ = res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("an honest client beside %d slow ones: %d %s, want 200", slow, res.StatusCode, body)
	}
}

// TestEdgeStreamsAMillionRowExport: a CSV export that takes longer than
// the server's read and write timeouts together streams to its end, its
// deadlines pushed on as it goes.
func TestEdgeStreamsAMillionRowExport(t *testing.T) {
	const rows = 1_000_000
	conn, db := readmodeltest.Migrated(t)
	ctx := context.Background()
	if err := conn.Exec(ctx, `INSERT INTO `+db+`.orders (creator_id, placed_at, brand_id, order_id, offer_id, offer_name, promo_code, status,
		amount, currency, country, earnings, earnings_currency, updated_at, version)
	SELECT 'c1', toDateTime('2026-01-01 00:00:00', 'UTC') + number, 'b1', concat('o', toString(number)), 'f1', 'Offer', 'ANNA10', 'pending',
		toDecimal64(1000, 3), 'RUB', 'RU', toDecimal64(100, 3), 'RUB', toDateTime('2026-01-01 00:00:00', 'UTC') + number, toUInt64(1)
	FROM numbers(`+fmt.Sprint(rows)+`)`); err != nil {
		t.Fatal(err)
	}
	const timeout = time.Second
	addr := edgeServer(t, api.EdgeConfig{ReadHeaderTimeout: timeout, ReadTimeout: timeout, WriteTimeout: timeout, IdleTimeout: time.Minute},
		reportsMux(t, reports.New(conn, db)))
	req, err := http.NewRequest(http.MethodGet, "http://"+addr+"/v1/reports/orders.csv", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer anna")
	start := time.Now()
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(res.Body)
		t.Fatalf("%d %s", res.StatusCode, body)
	}
	// The client pauses for a fifth of the write timeout every 16 MiB
	// (a short pause: the server must wait for it), so that the whole
	// stream lasts longer than the timeouts however fast the machine.
	var lines, n int
	var last byte
	buf := make([]byte, 64<<10)
	for {
		k, err := res.Body.Read(buf)
		for _, c := range buf[:k] {
			if c == '\n' {
				lines++
			}
		}
		if k > 0 {
			last = buf[k-1]
		}
		if n/(16<<20) != (n+k)/(16<<20) {
			time.Sleep(timeout / 5)
		}
		n += k
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("after %d bytes (%d lines, %v): %v", n, lines, time.Since(start).Round(time.Millisecond), err)
		}
	}
	t.Logf("%d bytes, %d lines in %v, timeouts %v", n, lines, time.Since(start).Round(time.Millisecond), timeout)
	if lines != rows+1 || last != '\n' {
		t.Fatalf("got %d lines (last byte %q), want the header and %d rows", lines, last, rows)
	}
}

// TestCappedConnHalfCloses: a connection of the capped listener still
// half-closes, as Go's server does after an early answer (a 413 before
// the body is read) so that the client reads the answer, not a reset.
func TestCappedConnHalfCloses(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	capped := api.LimitConnsPerClient(ln, 4, nil)
	defer capped.Close()
	client := dialFrom(t, "127.0.0.1", ln.Addr().String())
	c, err := capped.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	cw, ok := c.(interface{ CloseWrite() error })
	if !ok {
		t.Fatalf("a %T cannot half-close", c)
	}
	if _, err := io.WriteString(c, "answer"); err != nil {
		t.Fatal(err)
	}
	if err := cw.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	_ = client.SetReadDeadline(time.Now().Add(5 * time.Second))
	got, err := io.ReadAll(client)
	if err != nil || string(got) != "answer" {
		t.Fatalf("the client read %q, %v; want the answer, then the end of the stream", got, err)
	}
	if _, err := io.WriteString(client, "more of the body"); err != nil {
		t.Fatalf("the client can no longer send: %v", err)
	}
}
