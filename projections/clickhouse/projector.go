package chproj

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/attrib-engine/attrib/eventstore"
	"github.com/attrib-engine/attrib/schemas"
)

// Group is the consumer group of the projector's subscriber, and the name
// of the projection in projection_watermarks. Renaming it starts a new
// group that replays both topics from the beginning into the existing
// tables: harmless (every row is versioned), but it takes a while.
const Group = "attrib-clickhouse"

// Defaults of Config. DefaultBatchRows only matters when catching up (live
// traffic flushes every BatchWait): each flush costs ClickHouse 18.16 a
// part per table and a watermark insert after the data, 20-50 ms here
// whatever its size, so 40,000-event flushes project faster than 10,000
// (BenchmarkProjector run alternately: 69,000-90,000 events/s against
// 65,000-80,000; doc.go), for at most that many messages per partition in
// memory.
const (
	DefaultBatchRows     = 40000
	DefaultBatchWait     = 200 * time.Millisecond
	DefaultInsertTimeout = 30 * time.Second
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
	if err := checkDatabase(c.Database); err != nil {
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
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return nil
}

// Projector writes the attribution and catalog topics into the ClickHouse
// tables. It is a stateless eventstore.PartitionHandler, safe for
// concurrent use by the handlers of every partition: the batches handed to
// it in the same BatchWait are inserted together (one insert per table),
// and each Handle returns only once its rows and its partition's watermark
// are in ClickHouse, so the subscriber commits offsets only after that.
type Projector struct {
	conn    driver.Conn
	db      string
	cfg     Config
	log     *slog.Logger
	metrics *metrics

	mu  sync.Mutex
	cur *flush // the flush accepting rows; nil when none
}

// flush is one group insert: the rows of every batch that joined it.
type flush struct {
	rows   *rows
	full   chan struct{} // closed once rows.events >= BatchRows
	isFull bool
	done   chan struct{} // closed after the insert, with err set
	err    error
}

// New validates cfg and returns a Projector. The tables must exist
// (Migrate).
func New(cfg Config) (*Projector, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Projector{
		conn:    cfg.Conn,
		db:      quoteIdent(cfg.Database),
		cfg:     cfg,
		log:     cfg.Logger.With("projection", "clickhouse"),
		metrics: newMetrics(cfg.Registerer),
	}, nil
}

// Topics are the topics the projector consumes.
func Topics() []string { return []string{schemas.TopicAttributions, schemas.TopicCatalog} }

// Handler returns the factory of the subscriber's partition handlers: the
// Projector itself for every partition.
func (p *Projector) Handler() eventstore.HandlerFactory { return eventstore.Stateless(p) }

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
func (p *Projector) Handle(ctx context.Context, b *eventstore.Batch) error {
	r, counts := build(b)
	p.metrics.events.WithLabelValues("projected").Add(float64(counts[projected]))
	p.metrics.events.WithLabelValues("ignored").Add(float64(counts[ignored]))
	p.metrics.events.WithLabelValues("rejected").Add(float64(counts[rejected]))
	f, leader := p.join(r)
	if leader {
		p.lead(ctx, f)
	}
	select {
	case <-f.done:
		return f.err
	case <-ctx.Done():
		return fmt.Errorf("clickhouse projection: %s/%d: waiting for the insert: %w", b.Topic, b.Partition, ctx.Err())
	}
}

// join adds r to the current flush, starting one (and leading it) if none
// is open.
func (p *Projector) join(r *rows) (*flush, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	f, leader := p.cur, false
	if f == nil {
		f = &flush{rows: r, full: make(chan struct{}), done: make(chan struct{})}
		p.cur, leader = f, true
	} else {
		f.rows.merge(r)
	}
	if !f.isFull && f.rows.events >= p.cfg.BatchRows {
		f.isFull = true
		close(f.full)
	}
	return f, leader
}

// lead waits until the flush is full or BatchWait passed, closes it to new
// rows and inserts it. It does not give up when its own batch's context
// ends: other batches wait on the flush, and the wait is bounded.
func (p *Projector) lead(ctx context.Context, f *flush) {
	t := time.NewTimer(p.cfg.BatchWait)
	select {
	case <-t.C:
	case <-f.full:
		t.Stop()
	}
	p.mu.Lock()
	if p.cur == f {
		p.cur = nil
	}
	p.mu.Unlock()

	ictx, cancel := context.WithTimeout(context.WithoutCancel(ctx), p.cfg.InsertTimeout)
	defer cancel()
	start := time.Now()
	f.err = p.insert(ictx, f.rows)
	p.metrics.flushSeconds.Observe(time.Since(start).Seconds())
	if f.err != nil {
		p.metrics.flushErrors.Inc()
		p.log.Warn("insert failed; the batches are retried", "events", f.rows.events, "err", f.err)
	} else {
		p.metrics.flushes.Inc()
		p.metrics.flushEvents.Observe(float64(f.rows.events))
		for k, m := range f.rows.marks {
			p.metrics.advance(k, m)
		}
	}
	close(f.done)
}
