package chproj_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/attrib-engine/attrib/eventstore"
	"github.com/attrib-engine/attrib/internal/testenv"
	"github.com/attrib-engine/attrib/projections/chproj"
	"github.com/attrib-engine/attrib/readmodel/readmodeltest"
	"github.com/attrib-engine/attrib/schemas"
)

// TestWatermarkWaitsForEarlierFlush: the subscriber hands a partition's
// batch k+1 to the projector while batch k's flush is not done; when k's
// flush fails, k+1's flush writes its rows but neither its day marks nor
// its watermark, which stays below k's rows. Retried in order, as the
// subscriber does, both apply: every row once, the marks and the watermark
// at the end.
//
// Batch k's flush fails in two ways: before k+1 joins a flush (ClickHouse
// unreachable, then back), and while k+1's flush is being inserted (k's
// table is missing, k+1's is not).
func TestWatermarkWaitsForEarlierFlush(t *testing.T) {
	const part = 3
	for _, tc := range []struct {
		name string
		// fail makes the flush of batch k (unattributed orders) fail and
		// returns what undoes it; k+1 (orders) is begun after begin.
		fail func(t *testing.T, env *pipelineEnv) (begin func(), undo func())
	}{
		{"failed before the next batch joined", func(t *testing.T, env *pipelineEnv) (func(), func()) {
			env.out.Down.Store(true)
			return func() {
				if err := env.waits[1](); err == nil {
					t.Fatal("batch k succeeded with ClickHouse unreachable")
				}
				env.out.Down.Store(false)
			}, func() {}
		}},
		{"failing while the next batch's flush runs", func(t *testing.T, env *pipelineEnv) (func(), func()) {
			env.exec(t, "RENAME TABLE "+env.db+".unattributed_orders TO "+env.db+".unattributed_orders_away")
			return func() {}, func() {
				env.exec(t, "RENAME TABLE "+env.db+".unattributed_orders_away TO "+env.db+".unattributed_orders")
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := newPipelineEnv(t, part)
			ctx := context.Background()
			// Batch k-1, applied: the watermark is at 2.
			before := batch(schemas.TopicAttributions, part, 0,
				order{brand: "b1", id: "O0", creator: "c1", status: schemas.StatusPending, earnings: "1.00", version: 1, placed: t0}.envelope(t),
				order{brand: "b1", id: "O1", creator: "c1", status: schemas.StatusPending, earnings: "1.00", version: 1, placed: t0}.envelope(t))
			if err := env.h.Begin(ctx, before)(); err != nil {
				t.Fatal(err)
			}
			env.wantWatermark(t, 2, "after batch k-1")
			// Batch k: unattributed orders; batch k+1: orders of another day.
			k := batch(schemas.TopicAttributions, part, 2, unattributed(t, "b1", "U2", schemas.OutcomeUnknownCode, 1, "x"), unattributed(t, "b1", "U3", schemas.OutcomeUnknownCode, 1, "x"))
			next := batch(schemas.TopicAttributions, part, 4,
				order{brand: "b1", id: "O4", creator: "c1", status: schemas.StatusPending, earnings: "1.00", version: 1, placed: t0.Add(48 * time.Hour)}.envelope(t),
				order{brand: "b1", id: "O5", creator: "c1", status: schemas.StatusPending, earnings: "1.00", version: 1, placed: t0.Add(48 * time.Hour)}.envelope(t))

			begin, undo := tc.fail(t, env)
			env.waits = append(env.waits, env.h.Begin(ctx, k))
			begin()
			env.waits = append(env.waits, env.h.Begin(ctx, next))
			errK, errNext := env.waits[1](), env.waits[2]()
			undo()
			if errK == nil || errNext == nil {
				t.Errorf("batch k: %v; batch k+1: %v; want both to fail", errK, errNext)
			}
			if n := count(t, env.check, "SELECT count() FROM "+env.db+".orders WHERE order_id IN ('O4', 'O5')"); n != 2 {
				t.Errorf("batch k+1's rows: %d of 2 inserted; the test wants its flush to have got that far", n)
			}
			env.wantWatermark(t, 2, "after batch k failed and k+1's rows were inserted")
			if n := count(t, env.check, "SELECT count() FROM "+env.db+".order_day_marks WHERE day = toDate('2026-11-03') AND kafka_partition = ?", uint32(part)); n != 0 {
				t.Errorf("%d day marks of batch k+1 written after batch k failed, want none", n)
			}

			// The subscriber retries k, then k+1.
			for i, b := range []*eventstore.Batch{k, next} {
				if err := env.h.Begin(ctx, b)(); err != nil {
					t.Fatalf("retry of batch %d: %v", i, err)
				}
			}
			env.wantWatermark(t, 6, "after the retries")
			if n := count(t, env.check, "SELECT max(next_offset) FROM "+env.db+".order_day_marks WHERE day = toDate('2026-11-03') AND kafka_partition = ?", uint32(part)); n != 6 {
				t.Errorf("day mark of batch k+1's day at %d, want 6", n)
			}
			optimize(t, env.check, env.db)
			for table, want := range map[string]uint64{"orders": 4, "unattributed_orders": 2} {
				if n := count(t, env.check, "SELECT count() FROM "+env.db+"."+table); n != want {
					t.Errorf("%s: %d rows after OPTIMIZE FINAL, want %d, each once", table, n, want)
				}
			}
			if got, want := totals(t, env.check, env.db), "orders[pending/RUB:4:4.000 ] daily[2026-11-01/c1/pending:2:2.000 2026-11-03/c1/pending:2:2.000 ] unattributed[unknown_code:2:200.000 ]"; got != want {
				t.Errorf("totals:\n got %s\nwant %s", got, want)
			}
		})
	}
}

// pipelineEnv is a projector on a connection that an outage can cut, and
// the handler of one partition, driven as the subscriber drives it.
type pipelineEnv struct {
	db    string
	out   *testenv.Outage
	check driver.Conn
	p     *chproj.Projector
	h     eventstore.PipelinedHandler
	part  int
	waits []func() error
}

func newPipelineEnv(t *testing.T, part int) *pipelineEnv {
	t.Helper()
	_, db := readmodeltest.Migrated(t)
	opts := testenv.ClickHouseOptions(t)
	out := &testenv.Outage{}
	opts.DialContext = out.DialAddr(opts.Addr[0])
	conn := testenv.ClickHouseConn(t, opts)
	// Every batch fills its flush: a batch begun after another is in the
	// next flush.
	p := newProjector(t, conn, db, func(c *chproj.Config) {
		c.BatchRows, c.BatchWait, c.InsertTimeout, c.Registerer = 2, time.Minute, 5*time.Second, prometheus.NewRegistry()
	})
	h, err := p.Handler()(context.Background(), eventstore.Assignment{Group: chproj.Group, Topic: schemas.TopicAttributions, Partition: part})
	if err != nil {
		t.Fatal(err)
	}
	ph, ok := h.(eventstore.PipelinedHandler)
	if !ok || ph.Window() < 2 {
		t.Fatalf("the projector's handler %T does not pipeline", h)
	}
	return &pipelineEnv{db: db, out: out, check: testenv.ClickHouseConn(t, testenv.ClickHouseOptions(t)), p: p, h: ph, part: part, waits: []func() error{nil}}
}

func (env *pipelineEnv) exec(t *testing.T, query string) {
	t.Helper()
	if err := env.check.Exec(context.Background(), query); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
}

func (env *pipelineEnv) wantWatermark(t *testing.T, want int64, when string) {
	t.Helper()
	got, err := env.p.Watermark(context.Background(), schemas.TopicAttributions, env.part)
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Errorf("%s: watermark %d, want %d", when, got, want)
	}
}

// TestWatermarkNeverAheadOfRowsThroughOutages: the projector under its
// subscriber (with the default window, and with pipelining off), with
// ClickHouse unreachable now and then while events arrive. A watcher
// checks all along what read-your-writes relies on: every order below a
// partition's watermark is in orders. At the end every order is there
// exactly once.
func TestWatermarkNeverAheadOfRowsThroughOutages(t *testing.T) {
	for _, window := range []int{chproj.DefaultWindow, 1} {
		t.Run(fmt.Sprintf("window %d", window), func(t *testing.T) { testThroughOutages(t, window) })
	}
}

func testThroughOutages(t *testing.T, window int) {
	const partitions, rounds, perRound = 2, 30, 20
	_, db := readmodeltest.Migrated(t)
	opts := testenv.ClickHouseOptions(t)
	out := &testenv.Outage{}
	opts.DialContext = out.DialAddr(opts.Addr[0])
	conn := testenv.ClickHouseConn(t, opts)
	check := testenv.ClickHouseConn(t, testenv.ClickHouseOptions(t))
	p := newProjector(t, conn, db, func(c *chproj.Config) {
		c.BatchRows, c.BatchWait, c.InsertTimeout, c.Window = 20, 5*time.Millisecond, 2*time.Second, window
	})
	r := newRig(t, partitions)
	r.run(p)

	// The order id of each offset of each partition.
	var (
		mu      sync.Mutex
		byPart  [partitions][]string
		stop    = make(chan struct{})
		watched = make(chan int)
	)
	go func() {
		checks := 0
		defer func() { watched <- checks }()
		for {
			select {
			case <-stop:
				return
			default:
			}
			for part := range partitions {
				w, err := p.Watermark(context.Background(), schemas.TopicAttributions, part)
				if err != nil || w == 0 {
					continue
				}
				mu.Lock()
				ids := append([]string(nil), byPart[part][:min(int(w), len(byPart[part]))]...)
				mu.Unlock()
				n := count(t, check, "SELECT count() FROM "+db+".orders FINAL WHERE has(?, order_id)", ids)
				checks++
				if n != uint64(len(ids)) {
					t.Errorf("partition %d: watermark %d, but only %d of the %d orders below it are in orders", part, w, n, len(ids))
					return
				}
			}
		}
	}()

	seq := 0
	for round := range rounds {
		out.Down.Store(round%2 == 1) // every other round: many outages, each short
		for part := range partitions {
			var envs []schemas.Envelope
			var ids []string
			for len(envs) < perRound {
				id := fmt.Sprintf("O%05d", seq)
				seq++
				o := order{brand: "b1", id: id, creator: "c1", status: schemas.StatusPending, earnings: "1.00", version: 1}
				env := o.envelope(t)
				if eventstore.PartitionOf(env.AggregateKey, partitions) != part {
					continue
				}
				envs, ids = append(envs, env), append(ids, id)
			}
			first, err := r.store.AppendToPartition(context.Background(), schemas.TopicAttributions, part, envs...)
			if err != nil {
				t.Fatal(err)
			}
			mu.Lock()
			if first != int64(len(byPart[part])) {
				t.Fatalf("partition %d: appended at %d, want %d", part, first, len(byPart[part]))
			}
			byPart[part] = append(byPart[part], ids...)
			mu.Unlock()
		}
		time.Sleep(80 * time.Millisecond)
	}
	out.Down.Store(false)
	r.waitApplied(p)
	close(stop)
	if checks := <-watched; checks == 0 {
		t.Error("the watcher checked nothing")
	} else {
		t.Logf("%d checks of a watermark", checks)
	}
	// Rows written again by the retries replace each other: what the
	// reports read (FINAL) holds each order once. (OPTIMIZE ... FINAL is not
	// enough to count without FINAL: on 18.16 it does nothing, silently,
	// while a background merge holds some of the parts.)
	want := uint64(rounds * partitions * perRound)
	if n := count(t, check, "SELECT count() FROM "+db+".orders FINAL"); n != want {
		t.Errorf("%d orders rows under FINAL, want each of the %d orders once", n, want)
	}
	if n := count(t, check, "SELECT uniqExact(order_id) FROM "+db+".orders"); n != want {
		t.Errorf("%d distinct orders, want %d", n, want)
	}
}
