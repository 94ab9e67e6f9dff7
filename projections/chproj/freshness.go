package chproj

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/attrib-engine/attrib/eventstore"
	"github.com/attrib-engine/attrib/internal/promreg"
)

// Upstream is a consumer whose output the projection reads: Group consumes
// Topic and appends what it decides to Output, one of the projection's
// Topics (the attribution worker turns attrib.orders into
// attrib.attributions).
type Upstream struct {
	Group, Topic, Output string
}

// FreshnessConfig configures a Freshness tracker.
type FreshnessConfig struct {
	Store *eventstore.Store
	// Watermarks reads the projection's watermarks (Projector.Watermarks).
	Watermarks func(context.Context) ([]PartitionWatermark, error)
	// Upstream lists the consumers between the log and the projection's
	// topics.
	Upstream []Upstream
	// Interval between two checks. Default 25 ms.
	Interval time.Duration
	// MaxWait bounds Wait. Default 3 s: reports follow writes "at most a
	// few seconds later".
	MaxWait time.Duration
	// StallAfter: when the check under way started longer ago than this,
	// Wait does not wait (a consumer is down or far behind; waiting would
	// only slow every report). Default 15 s.
	StallAfter time.Duration
	// IdleAfter: the tracker checks only while Wait was called within
	// this. Default 1 minute.
	IdleAfter time.Duration
	Logger    *slog.Logger
	// Registerer receives the lag gauge. Nil: kept, not registered.
	Registerer prometheus.Registerer
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

// Freshness tracks the time up to which everything appended to the log is
// visible in the projection's tables: an event appended before FreshAsOf
// has gone through every upstream consumer and the projector. It is the
// read-your-writes of the reports: a report waits (bounded) until the
// tables are fresh as of the moment the request arrived, so that a write
// answered before it, by anyone, is in it.
//
// One check: note the time t and the end offsets of the upstream topics
// and of the projection's topics; wait until every upstream group has
// committed past its topic's ends; note the ends of the projection's
// topics again (now holding what the upstream appended for those events);
// wait until the projection's watermarks pass them all. Then everything
// appended before t is visible: FreshAsOf = t.
type Freshness struct {
	cfg FreshnessConfig
	lag prometheus.Gauge

	mu       sync.Mutex
	asOf     time.Time
	advanced chan struct{} // closed and replaced when asOf moves
	lastWant time.Time     // the last call of Wait
	checking time.Time     // when the check under way started; zero when idle
	wake     chan struct{}
}

// NewFreshness returns a tracker; Run runs it.
func NewFreshness(cfg FreshnessConfig) (*Freshness, error) {
	if cfg.Store == nil || cfg.Watermarks == nil {
		return nil, errors.New("freshness: a store and the watermarks are required")
	}
	if cfg.Interval <= 0 {
		cfg.Interval = 25 * time.Millisecond
	}
	if cfg.MaxWait <= 0 {
		cfg.MaxWait = 3 * time.Second
	}
	if cfg.StallAfter <= 0 {
		cfg.StallAfter = 15 * time.Second
	}
	if cfg.IdleAfter <= 0 {
		cfg.IdleAfter = time.Minute
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	lag := promreg.With(cfg.Registerer).Gauge(prometheus.GaugeOpts{
		Name: "attrib_reports_freshness_lag_seconds",
		Help: "How far behind the log the ClickHouse reports are: now minus the time up to which every appended event is visible in them (measured while reports are read).",
	})
	return &Freshness{cfg: cfg, lag: lag, advanced: make(chan struct{}), wake: make(chan struct{}, 1)}, nil
}

// FreshAsOf returns the time up to which every event appended to the log is
// in the tables (zero before the first check succeeded).
func (f *Freshness) FreshAsOf() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.asOf
}

// Wait waits until the tables are fresh as of since, at most MaxWait and
// not at all when the projection is stalled, and returns FreshAsOf and
// whether it reached since.
func (f *Freshness) Wait(ctx context.Context, since time.Time) (time.Time, bool) {
	f.mu.Lock()
	idle := f.cfg.Now().Sub(f.lastWant) > f.cfg.IdleAfter
	f.lastWant = f.cfg.Now()
	f.mu.Unlock()
	if idle {
		select {
		case f.wake <- struct{}{}:
		default:
		}
	}
	deadline := time.NewTimer(f.cfg.MaxWait)
	defer deadline.Stop()
	for {
		f.mu.Lock()
		asOf, advanced, checking := f.asOf, f.advanced, f.checking
		f.mu.Unlock()
		if !asOf.Before(since) {
			return asOf, true
		}
		if !checking.IsZero() && since.Sub(checking) > f.cfg.StallAfter {
			return asOf, false // stalled
		}
		select {
		case <-advanced:
		case <-deadline.C:
			return asOf, false
		case <-ctx.Done():
			return asOf, false
		}
	}
}

// Run checks until ctx ends, while reports are being read.
func (f *Freshness) Run(ctx context.Context) error {
	t := time.NewTicker(f.cfg.Interval)
	defer t.Stop()
	var c *check
	for {
		f.mu.Lock()
		idle := f.cfg.Now().Sub(f.lastWant) > f.cfg.IdleAfter
		f.mu.Unlock()
		if idle {
			c = nil
			f.setChecking(time.Time{})
			select {
			case <-ctx.Done():
				return nil
			case <-f.wake:
			}
		}
		if c == nil {
			c = &check{at: f.cfg.Now()}
			f.setChecking(c.at)
		}
		done, err := f.step(ctx, c)
		if err != nil && ctx.Err() == nil {
			f.cfg.Logger.Debug("freshness check failed; retrying", "err", err)
		}
		if done {
			f.advance(c.at)
			c = nil
			continue // start the next check at once
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// check is one pass of the check described on Freshness.
type check struct {
	at time.Time
	// upstreamEnds are the ends of the upstream topics at `at`; nil until
	// noted.
	upstreamEnds []map[int]int64
	// targets are the ends the projection's watermarks must reach; nil
	// until every upstream consumer passed upstreamEnds.
	targets map[string]map[int]int64
	// direct holds the ends of the projection's topics at `at`.
	direct map[string]map[int]int64
}

// step advances c as far as it can now; it reports whether c is complete.
func (f *Freshness) step(ctx context.Context, c *check) (bool, error) {
	st := f.cfg.Store
	if c.upstreamEnds == nil {
		c.direct = map[string]map[int]int64{}
		for _, topic := range Topics() {
			ends, err := endsOf(ctx, st, topic)
			if err != nil {
				return false, err
			}
			c.direct[topic] = ends
		}
		var ups []map[int]int64
		for _, u := range f.cfg.Upstream {
			ends, err := endsOf(ctx, st, u.Topic)
			if err != nil {
				return false, err
			}
			ups = append(ups, ends)
		}
		c.upstreamEnds = ups
	}
	if c.targets == nil {
		for i, u := range f.cfg.Upstream {
			committed, err := st.Committed(ctx, u.Group, u.Topic)
			if err != nil {
				return false, err
			}
			if !reached(committed, c.upstreamEnds[i]) {
				return false, nil
			}
		}
		// Every upstream event of before `at` is decided: what it
		// appended is below the ends of now.
		targets := map[string]map[int]int64{}
		for topic, direct := range c.direct {
			targets[topic] = direct
		}
		for _, u := range f.cfg.Upstream {
			ends, err := endsOf(ctx, st, u.Output)
			if err != nil {
				return false, err
			}
			targets[u.Output] = ends
		}
		c.targets = targets
	}
	marks, err := f.cfg.Watermarks(ctx)
	if err != nil {
		return false, err
	}
	applied := map[string]map[int]int64{}
	for _, m := range marks {
		if applied[m.Topic] == nil {
			applied[m.Topic] = map[int]int64{}
		}
		applied[m.Topic][m.Partition] = m.Next
	}
	for topic, ends := range c.targets {
		if !reached(applied[topic], ends) {
			return false, nil
		}
	}
	return true, nil
}

// endsOf returns the end offset of every non-empty partition of topic.
func endsOf(ctx context.Context, st *eventstore.Store, topic string) (map[int]int64, error) {
	bounds, err := st.Bounds(ctx, topic)
	if err != nil {
		return nil, err
	}
	out := make(map[int]int64, len(bounds))
	for _, b := range bounds {
		if b.End > b.First {
			out[b.Partition] = b.End
		}
	}
	return out, nil
}

// reached reports whether pos has every partition of ends at or past its
// end.
func reached(pos, ends map[int]int64) bool {
	for p, end := range ends {
		if pos[p] < end {
			return false
		}
	}
	return true
}

func (f *Freshness) setChecking(at time.Time) {
	f.mu.Lock()
	f.checking = at
	f.mu.Unlock()
}

func (f *Freshness) advance(at time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if at.After(f.asOf) {
		f.asOf = at
		close(f.advanced)
		f.advanced = make(chan struct{})
	}
	f.lag.Set(f.cfg.Now().Sub(f.asOf).Seconds())
}
