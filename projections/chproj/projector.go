package chproj

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/attrib-engine/attrib/eventstore"
	"github.com/attrib-engine/attrib/readmodel"
	"github.com/attrib-engine/attrib/schemas"
)

// Group is the consumer group of the projector's subscriber, and the name
// of the projection in projection_watermarks. Renaming it starts a new
// group that replays both topics from the beginning into the existing
// tables: harmless (every row is versioned), but it takes a while.
const Group = "attrib-clickhouse"

// Defaults of Config. DefaultBatchRows only matters when catching up (live
// traffic flushes every BatchWait): each flush costs ClickHouse 18.16 a
// part per table and the position inserts after the data whatever its
// size, so fewer, bigger flushes project faster, for at most Window times
// that many messages per partition in memory.
//
// DefaultWindow: with three batches of a partition in flight, the small
// last batches of the partitions fill the flush being gathered instead of
// waiting BatchWait in a flush of their own.
//
// DefaultInserts: one flush inserts its rows at a time while the next one
// gathers, so under load a flush holds what arrived during the previous
// insert and ClickHouse gets fewer, bigger parts (each part of orders is
// about 55 files, a fixed cost whatever its rows).
const (
	DefaultBatchRows     = 40000
	DefaultBatchWait     = 200 * time.Millisecond
	DefaultInsertTimeout = 30 * time.Second
	DefaultWindow        = 3
	DefaultInserts       = 1
)

// Config configures a Projector. Zero optional fields take the defaults.
type Config struct {
	// Conn is a native-protocol connection (pool) to ClickHouse. Required.
	Conn driver.Conn
	// Database holds the tables Migrate created. Required.
	Database string
	// BatchRows is how many events a flush waits for, across partitions,
	// before it inserts at once; it is also the subscriber's MaxBatch
	// (SubscriberConfig). A caller that hands one batch at a time (a
	// replay) should set it to its batch size, or every batch waits
	// BatchWait. Default DefaultBatchRows.
	BatchRows int
	// BatchWait is the longest an event waits for others to share its
	// insert. It adds to the projection's latency (read-your-writes waits
	// for it), and bounds ClickHouse to about one insert per table per
	// BatchWait, whatever the number of partitions. Default DefaultBatchWait.
	BatchWait time.Duration
	// InsertTimeout bounds one flush (all its inserts). Default
	// DefaultInsertTimeout.
	InsertTimeout time.Duration
	// Window is how many batches of one partition the subscriber may have
	// in flight with the projector (eventstore.PipelinedHandler): one
	// being decoded while the flushes of the others are inserted. Each
	// holds up to BatchRows messages in memory. 1 turns pipelining off.
	// Default DefaultWindow.
	Window int
	// Inserts is how many flushes may insert their rows at once. A flush
	// whose BatchWait ended while that many insert goes on gathering rows
	// (up to BatchRows) until one of them is done: the slower ClickHouse
	// answers, the bigger the flushes. Default DefaultInserts.
	Inserts int
	// Logger; default slog.Default().
	Logger *slog.Logger
	// Registerer receives the projector's metrics. Nil: kept, not registered.
	Registerer prometheus.Registerer
}

// Validate checks the required fields and fills in defaults.
func (c *Config) Validate() error {
	if c.Conn == nil {
		return errors.New("clickhouse projection: no connection")
	}
	if err := readmodel.CheckDatabase(c.Database); err != nil {
		return fmt.Errorf("clickhouse projection: %w", err)
	}
	if c.BatchRows <= 0 {
		c.BatchRows = DefaultBatchRows
	}
	if c.BatchWait <= 0 {
		c.BatchWait = DefaultBatchWait
	}
	if c.InsertTimeout <= 0 {
		c.InsertTimeout = DefaultInsertTimeout
	}
	if c.Window <= 0 {
		c.Window = DefaultWindow
	}
	if c.Inserts <= 0 {
		c.Inserts = DefaultInserts
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return nil
}

// Projector writes the attribution and catalog topics into the ClickHouse
// tables. The batches handed to it in the same BatchWait, by the handlers
// of every partition, are inserted together (one insert per table), and a
// batch is done only once its rows and its partition's watermark are in
// ClickHouse, so the subscriber commits offsets only after that. Handler
// makes the subscriber's handlers; the Projector itself is a stateless
// eventstore.PartitionHandler for callers that hand each partition's
// batches one at a time (a replay).
type Projector struct {
	conn    driver.Conn
	db      string
	cfg     Config
	log     *slog.Logger
	metrics *metrics

	// inserting holds a token per flush inserting its rows (Config.Inserts).
	inserting chan struct{}

	mu  sync.Mutex
	cur *flush // the flush accepting rows; nil when none
}

// flush is one group insert: the rows of every batch that joined it.
type flush struct {
	rows   *rows
	full   chan struct{} // closed once rows.events >= BatchRows
	isFull bool
	// earlier holds, per partition, the flushes of its earlier batches
	// that had not succeeded when a batch of it joined this one: the
	// partition's day marks and watermark wait for them (and are not
	// written if one of them failed for the partition).
	earlier map[partitionKey][]*flush
	done    chan struct{} // closed after the insert, with err and failed set
	err     error
	// failed holds the partitions whose day marks and watermark were not
	// written because the flush of an earlier batch of theirs failed.
	failed map[partitionKey]error
}

// errFor returns the result of the flush for the batches of partition k;
// call it after done is closed.
func (f *flush) errFor(k partitionKey) error {
	if f.err != nil {
		return f.err
	}
	return f.failed[k]
}

// New validates cfg and returns a Projector. The tables must exist
// (Migrate).
func New(cfg Config) (*Projector, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Projector{
		conn:    cfg.Conn,
		db:      readmodel.QuoteIdent(cfg.Database),
		cfg:     cfg,
		log:     cfg.Logger.With("projection", "clickhouse"),
		metrics: newMetrics(cfg.Registerer),

		inserting: make(chan struct{}, cfg.Inserts),
	}, nil
}

// Topics are the topics the projector consumes.
func Topics() []string { return []string{schemas.TopicAttributions, schemas.TopicCatalog} }

// Handler returns the factory of the subscriber's partition handlers: an
// eventstore.PipelinedHandler per assigned partition, which lets the
// subscriber hand it the partition's next batch while the previous one's
// flush is being inserted (see partitionHandler).
func (p *Projector) Handler() eventstore.HandlerFactory {
	return func(_ context.Context, a eventstore.Assignment) (eventstore.PartitionHandler, error) {
		return &partitionHandler{p: p, key: partitionKey{a.Topic, a.Partition}}, nil
	}
}

// SubscriberConfig returns the configuration that runs the projector live:
// Group on Topics with Handler, batches of up to BatchRows messages per
// partition. The caller may tune the other fields.
func (p *Projector) SubscriberConfig() eventstore.SubscriberConfig {
	return eventstore.SubscriberConfig{
		Group:    Group,
		Topics:   Topics(),
		Handler:  p.Handler(),
		MaxBatch: p.cfg.BatchRows,
		Logger:   p.log,
	}
}

// Handle projects one batch: it decodes every message (rejecting those it
// cannot project, which go to the dead-letter topic), adds the rows to the
// current flush and waits until that flush is inserted. An error means
// nothing of the batch may be committed; retrying is harmless, because
// every table keeps the highest version of each row.
//
// Handle is for callers that hand a partition's batches one at a time (a
// replay): a batch's watermark does not wait for anything of an earlier
// batch still in flight. The handlers Handler makes do.
func (p *Projector) Handle(ctx context.Context, b *eventstore.Batch) error {
	return p.begin(ctx, b, nil)()
}

// begin decodes b, adds its rows to the current flush with the flushes its
// partition's watermark must wait for, and returns the wait for the
// batch's result.
func (p *Projector) begin(ctx context.Context, b *eventstore.Batch, earlier func(f *flush) []*flush) (wait func() error) {
	r, counts := build(b)
	p.metrics.events.WithLabelValues("projected").Add(float64(counts[projected]))
	p.metrics.events.WithLabelValues("ignored").Add(float64(counts[ignored]))
	p.metrics.events.WithLabelValues("rejected").Add(float64(counts[rejected]))
	k := partitionKey{b.Topic, b.Partition}
	f, leader := p.join(r, k, earlier)
	if leader {
		go p.lead(ctx, f)
	}
	return func() error {
		select {
		case <-f.done:
			return f.errFor(k)
		case <-ctx.Done():
			return fmt.Errorf("clickhouse projection: %s/%d: waiting for the insert: %w", b.Topic, b.Partition, ctx.Err())
		}
	}
}

// join adds r to the current flush, starting one (and leading it) if none
// is open, and records the flushes that partition k's watermark in it must
// wait for, which earlier returns given the flush joined.
func (p *Projector) join(r *rows, k partitionKey, earlier func(f *flush) []*flush) (*flush, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	f, leader := p.cur, false
	if f == nil {
		f = &flush{rows: r, full: make(chan struct{}), done: make(chan struct{})}
		p.cur, leader = f, true
	} else {
		f.rows.merge(r)
	}
	if earlier != nil {
		if deps := earlier(f); len(deps) > 0 {
			if f.earlier == nil {
				f.earlier = make(map[partitionKey][]*flush)
			}
			f.earlier[k] = append(f.earlier[k], deps...)
		}
	}
	if !f.isFull && f.rows.events >= p.cfg.BatchRows {
		// Full: closed to new rows now, not when the leader wakes, so
		// that the next batch starts the next flush.
		f.isFull = true
		close(f.full)
		p.cur = nil
	}
	return f, leader
}

// lead waits until the flush is full or BatchWait passed, then until fewer
// than Inserts flushes are inserting their rows (the flush gathering rows
// meanwhile, unless full), closes it to new rows and inserts it. It does
// not give up when its own batch's context ends: other batches wait on the
// flush, and the wait is bounded.
//
// The token is held for the rows only, not while the day marks and
// watermarks wait for earlier flushes (awaitEarlier): an earlier flush may
// still be waiting for a token, and it must be able to take one.
func (p *Projector) lead(ctx context.Context, f *flush) {
	t := time.NewTimer(p.cfg.BatchWait)
	select {
	case <-t.C:
	case <-f.full:
		t.Stop()
	}
	p.inserting <- struct{}{}
	p.mu.Lock()
	if p.cur == f {
		p.cur = nil
	}
	p.mu.Unlock()

	ictx, cancel := context.WithTimeout(context.WithoutCancel(ctx), p.cfg.InsertTimeout)
	defer cancel()
	start := time.Now()
	f.err = p.insertData(ictx, f.rows)
	<-p.inserting
	if f.err == nil {
		f.failed = awaitEarlier(ictx, f)
		f.err = p.insertPositions(ictx, f.rows, f.failed)
	}
	p.metrics.flushSeconds.Observe(time.Since(start).Seconds())
	switch {
	case f.err != nil:
		p.metrics.flushErrors.Inc()
		p.log.Warn("insert failed; the batches are retried", "events", f.rows.events, "err", f.err)
	case len(f.failed) > 0:
		p.metrics.flushErrors.Inc()
		for k, err := range f.failed {
			p.log.Warn("partition not applied: an earlier flush of it failed; its batches are retried", "topic", k.topic, "partition", k.partition, "err", err)
		}
	default:
		p.metrics.flushes.Inc()
		p.metrics.flushEvents.Observe(float64(f.rows.events))
	}
	if f.err == nil {
		for k, m := range f.rows.marks {
			if _, failed := f.failed[k]; !failed {
				p.metrics.advance(k, m)
			}
		}
	}
	close(f.done)
}

// awaitEarlier waits for the flushes that f's partitions' watermarks wait
// for, and returns the partitions for which one of them failed.
func awaitEarlier(ctx context.Context, f *flush) map[partitionKey]error {
	var failed map[partitionKey]error
	for k, deps := range f.earlier {
		for _, d := range deps {
			var err error
			select {
			case <-d.done:
				err = d.errFor(k)
			case <-ctx.Done():
				err = ctx.Err()
			}
			if err != nil {
				if failed == nil {
					failed = make(map[partitionKey]error)
				}
				failed[k] = fmt.Errorf("clickhouse projection: %s/%d: the flush of an earlier batch failed: %w", k.topic, k.partition, err)
				break
			}
		}
	}
	return failed
}

// partitionHandler is the projector's handler of one partition for one
// group generation (Handler makes them). It is an
// eventstore.PipelinedHandler: the subscriber may begin the partition's
// next batch while the flush of the previous one is being inserted, so that
// decoding overlaps the inserts. A flush writes a partition's day marks and
// watermark only after the flushes of the partition's earlier batches
// succeeded (and not at all if one failed: the batch then fails, and the
// subscriber retries it after the earlier one), so a watermark still means
// that every row below it is in ClickHouse.
type partitionHandler struct {
	p   *Projector
	key partitionKey

	mu sync.Mutex
	// pending holds the batches of the partition begun and not known to
	// have succeeded: in flight, or failed and not yet begun again.
	pending []pendingBatch
}

type pendingBatch struct {
	next int64 // the batch's Next: batches of a generation have distinct ones, growing with their offsets
	f    *flush
}

// Window implements eventstore.PipelinedHandler: Config.Window.
func (h *partitionHandler) Window() int { return h.p.cfg.Window }

// Begin implements eventstore.PipelinedHandler: it decodes b and adds its
// rows to the current flush, whose day marks and watermark of the partition
// will wait for the flushes of the partition's earlier batches still
// pending. It relies on the subscriber's order: the first Begin of each
// batch in offset order, and a batch begun again only after every earlier
// one succeeded.
func (h *partitionHandler) Begin(ctx context.Context, b *eventstore.Batch) func() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	var joined *flush
	wait := h.p.begin(ctx, b, func(f *flush) []*flush {
		joined = f
		return h.earlier(b.Next, f)
	})
	h.pending = append(h.pending, pendingBatch{next: b.Next, f: joined})
	return wait
}

// earlier returns the flushes, other than f, of the pending batches before
// next, and forgets the batches that succeeded and an earlier attempt of
// the batch ending at next.
func (h *partitionHandler) earlier(next int64, f *flush) []*flush {
	var deps []*flush
	keep := h.pending[:0]
	for _, pb := range h.pending {
		select {
		case <-pb.f.done:
			if pb.f.errFor(h.key) == nil {
				continue // succeeded: its rows, marks and watermark are in
			}
		default:
		}
		switch {
		case pb.next == next:
			continue // an earlier attempt of this batch
		case pb.next < next && pb.f != f && !slices.Contains(deps, pb.f):
			deps = append(deps, pb.f)
		}
		keep = append(keep, pb)
	}
	clear(h.pending[len(keep):])
	h.pending = keep
	return deps
}

// Handle implements eventstore.PartitionHandler: Begin, then wait.
func (h *partitionHandler) Handle(ctx context.Context, b *eventstore.Batch) error {
	return h.Begin(ctx, b)()
}
