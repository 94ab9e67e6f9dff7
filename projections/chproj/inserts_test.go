package chproj_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/attrib-engine/attrib/projections/chproj"
	"github.com/attrib-engine/attrib/readmodel/readmodeltest"
	"github.com/attrib-engine/attrib/schemas"
)

// slowOrdersConn is the real connection, with every insert into orders made
// slower by delay and the inserts into orders under way at once counted.
type slowOrdersConn struct {
	driver.Conn
	delay            time.Duration
	inFlight, most   atomic.Int32
	inserts, ordered atomic.Int32
}

func (c *slowOrdersConn) PrepareBatch(ctx context.Context, query string, opts ...driver.PrepareBatchOption) (driver.Batch, error) {
	b, err := c.Conn.PrepareBatch(ctx, query, opts...)
	if err != nil || !strings.Contains(query, ".orders (") {
		return b, err
	}
	return &slowOrdersBatch{Batch: b, c: c}, nil
}

type slowOrdersBatch struct {
	driver.Batch
	c *slowOrdersConn
}

func (b *slowOrdersBatch) Send() error {
	n := b.c.inFlight.Add(1)
	defer b.c.inFlight.Add(-1)
	for {
		most := b.c.most.Load()
		if n <= most || b.c.most.CompareAndSwap(most, n) {
			break
		}
	}
	b.c.inserts.Add(1)
	b.c.ordered.Add(int32(b.Rows()))
	time.Sleep(b.c.delay)
	return b.Batch.Send()
}

// TestInsertsAtOnce: eight partitions hand one-order batches back to back,
// every BatchWait starts a flush, and ClickHouse takes longer than BatchWait
// per insert. At most Inserts flushes insert their orders at once, the
// others gathering rows meanwhile (so fewer, bigger inserts than batches),
// and every order arrives.
func TestInsertsAtOnce(t *testing.T) {
	const partitions, perPartition = 8, 12
	base, db := readmodeltest.Migrated(t)
	for _, inserts := range []int{1, 2} {
		t.Run(fmt.Sprintf("inserts %d", inserts), func(t *testing.T) {
			conn := &slowOrdersConn{Conn: base, delay: 40 * time.Millisecond}
			p := newProjector(t, conn, db, func(c *chproj.Config) { c.BatchWait = 2 * time.Millisecond; c.Inserts = inserts })
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			var wg sync.WaitGroup
			errs := make(chan error, partitions*perPartition)
			for part := range partitions {
				wg.Go(func() {
					for i := range perPartition {
						id := fmt.Sprintf("I%d-%d-%d", inserts, part, i)
						b := batch(schemas.TopicAttributions, part, int64(i),
							order{brand: "b1", id: id, creator: "c1", status: schemas.StatusPending, earnings: "1.00", version: 1}.envelope(t))
						errs <- p.Handle(ctx, b)
					}
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Fatal(err)
				}
			}
			if most := conn.most.Load(); most > int32(inserts) {
				t.Errorf("%d inserts into orders at once, want at most %d", most, inserts)
			}
			if n, batches := conn.inserts.Load(), int32(partitions*perPartition); n >= batches {
				t.Errorf("%d inserts into orders for %d batches: the flushes did not gather while waiting", n, batches)
			}
			if n := conn.ordered.Load(); n != partitions*perPartition {
				t.Errorf("%d orders rows sent, want %d", n, partitions*perPartition)
			}
			if n := count(t, base, "SELECT count() FROM "+db+".orders FINAL WHERE startsWith(order_id, ?)", fmt.Sprintf("I%d-", inserts)); n != partitions*perPartition {
				t.Errorf("%d orders in orders, want %d", n, partitions*perPartition)
			}
		})
	}
}
