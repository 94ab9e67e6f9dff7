package testenv

import (
	"context"
	"errors"
	"net"
	"sync/atomic"
)

// Outage makes a client's connections to a test server fail while Down is
// set: new dials are refused and reads and writes on open connections
// fail, as when the server is unreachable. The shared server itself is
// untouched. Give a client Dial (go-redis's Dialer) or DialAddr
// (clickhouse-go's DialContext).
type Outage struct{ Down atomic.Bool }

// Dial connects to addr unless the outage is on.
func (o *Outage) Dial(ctx context.Context, network, addr string) (net.Conn, error) {
	if o.Down.Load() {
		return nil, errors.New("test outage: " + addr + " unreachable")
	}
	var d net.Dialer
	c, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	return &outageConn{Conn: c, o: o}, nil
}

// DialAddr returns a dialer of addr over TCP whatever address it is asked
// for.
func (o *Outage) DialAddr(addr string) func(ctx context.Context, _ string) (net.Conn, error) {
	return func(ctx context.Context, _ string) (net.Conn, error) { return o.Dial(ctx, "tcp", addr) }
}

type outageConn struct {
	net.Conn
	o *Outage
}

func (c *outageConn) Read(b []byte) (int, error) {
	if c.o.Down.Load() {
		return 0, errors.New("test outage: connection reset")
	}
	return c.Conn.Read(b)
}

func (c *outageConn) Write(b []byte) (int, error) {
	if c.o.Down.Load() {
		return 0, errors.New("test outage: connection reset")
	}
	return c.Conn.Write(b)
}
