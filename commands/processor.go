package commands

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/attrib-engine/attrib/catalog"
	"github.com/attrib-engine/attrib/eventstore"
	"github.com/attrib-engine/attrib/internal/promreg"
	"github.com/attrib-engine/attrib/schemas"
)

// Replier delivers a command's result to whoever waits for it.
type Replier interface {
	Reply(ctx context.Context, commandID string, result []byte) error
}

// ProjectedFunc returns the next catalog offset the read model has applied
// on one partition: every event below it is visible to readers.
type ProjectedFunc func(ctx context.Context, partition int) (int64, error)

// ProcessorConfig configures a Processor.
type ProcessorConfig struct {
	Store   *eventstore.Store
	Replier Replier
	// Projected tells how far the Redis projection has read the catalog;
	// the processor answers a command only once its events are projected, so
	// the caller's next read sees them. Nil: answer as soon as appended.
	Projected ProjectedFunc
	// ProjectionWait bounds that wait; past it the answer goes out anyway
	// (the events are durable) and a warning is logged. Default 10 s.
	ProjectionWait time.Duration
	// Now is the clock; default time.Now.
	Now func() time.Time
	// AllowBackdating lets a command sent with Client.SendAt take effect
	// at its past time (checked by catalog.CheckEffectiveTime), stamped as
	// its events' occurred_at; their recorded_at stays the clock's. For
	// seeding demo and test data before any order of the brand: a past
	// occurred_at appended after later ones breaks what the attribution
	// worker's lag check relies on (a catalog partition's occurred_at only
	// grows), and a code dated before orders already decided would make a
	// replay from scratch decide them otherwise. Off (the default), such a
	// command is refused and nothing is recorded.
	AllowBackdating bool
	// CreatorName, when set, gives generated codes a prefix from the
	// creator's name.
	CreatorName func(ctx context.Context, creatorID string) (string, error)
	Logger      *slog.Logger
	Registerer  prometheus.Registerer
}

// Processor decides brand commands; see the package doc.
type Processor struct {
	cfg     ProcessorConfig
	decided *prometheus.CounterVec
	waits   prometheus.Histogram
}

// NewProcessor validates cfg and returns a Processor.
func NewProcessor(cfg ProcessorConfig) (*Processor, error) {
	if cfg.Store == nil || cfg.Replier == nil {
		return nil, errors.New("commands processor: store and replier are required")
	}
	if cfg.ProjectionWait <= 0 {
		cfg.ProjectionWait = 10 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	f := promreg.With(cfg.Registerer)
	p := &Processor{
		cfg: cfg,
		decided: f.CounterVec(prometheus.CounterOpts{
			Name: "attrib_commands_decided_total",
			Help: "Commands decided, by command type and outcome (ok, invalid, not_found, conflict, internal).",
		}, []string{"type", "outcome"}),
		waits: f.Histogram(prometheus.HistogramOpts{
			Name:    "attrib_commands_projection_wait_seconds",
			Help:    "Time from appending a batch's events to seeing them in the Redis projection.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 14),
		}),
	}
	return p, nil
}

// Handler returns the factory for a Subscriber of Topic in Group.
func (p *Processor) Handler() eventstore.HandlerFactory {
	return func(ctx context.Context, a eventstore.Assignment) (eventstore.PartitionHandler, error) {
		n, err := p.cfg.Store.Partitions(ctx, schemas.TopicCatalog)
		if err != nil {
			return nil, err
		}
		m, err := p.cfg.Store.Partitions(ctx, Topic)
		if err != nil {
			return nil, err
		}
		if n != m {
			// Not retryable in practice: an operator must fix the topics.
			p.cfg.Logger.Error("commands and catalog topics differ in partition count; brand commands cannot be decided",
				"commands", m, "catalog", n)
			return nil, fmt.Errorf("%s has %d partitions, %s %d: they must be equal", Topic, m, schemas.TopicCatalog, n)
		}
		h := &partition{p: p, partition: a.Partition, log: p.cfg.Logger.With("partition", a.Partition)}
		if err := h.rebuild(ctx); err != nil {
			return nil, err
		}
		return h, nil
	}
}

// partition is the single writer of the brands of one catalog partition for
// one group generation.
type partition struct {
	p         *Processor
	partition int
	log       *slog.Logger
	brands    map[string]*catalog.Brand
	// applied holds the ids of commands whose events are in the log.
	applied map[string]bool
	// dirty is set when an append failed after the state was evolved: the
	// state is rebuilt from the log before the batch is tried again.
	dirty bool
}

// rebuild folds the catalog partition into the brands' states.
func (h *partition) rebuild(ctx context.Context) error {
	h.brands = map[string]*catalog.Brand{}
	h.applied = map[string]bool{}
	start := time.Now()
	var events int
	err := h.p.cfg.Store.ReplayPartition(ctx, schemas.TopicCatalog, h.partition, eventstore.HandlerFunc(func(_ context.Context, b *eventstore.Batch) error {
		for i, m := range b.Messages {
			if _, bad := b.Rejected(i); bad || m.Envelope.BrandID == "" {
				continue
			}
			ev, err := schemas.DecodeTrusted(m.Envelope)
			if err != nil {
				continue // the projections sent it to their dead-letter topics
			}
			h.evolve(m.Envelope, ev)
			events++
		}
		return nil
	}), eventstore.ReplayOptions{})
	if err != nil {
		return fmt.Errorf("rebuild brands of catalog partition %d: %w", h.partition, err)
	}
	h.dirty = false
	h.log.Info("brands rebuilt from the log", "brands", len(h.brands), "events", events, "took", time.Since(start).Round(time.Millisecond))
	return nil
}

func (h *partition) evolve(env schemas.Envelope, ev schemas.Event) {
	b := h.brands[env.BrandID]
	if b == nil {
		b = &catalog.Brand{}
		h.brands[env.BrandID] = b
	}
	b.Evolve(env, ev)
	if env.CausationID != "" {
		h.applied[env.CausationID] = true
	}
}

// Handle decides a batch of commands in order, appends all their events in
// one write, waits for the projection, then answers every caller.
func (h *partition) Handle(ctx context.Context, batch *eventstore.Batch) error {
	if h.dirty {
		if err := h.rebuild(ctx); err != nil {
			return err
		}
	}
	now := h.p.cfg.Now().UTC()
	results := make([]Result, 0, len(batch.Messages))
	var events []schemas.Envelope
	for i, m := range batch.Messages {
		res := Result{CommandID: m.Envelope.EventID}
		cmd, at, err := DecodeAt(m.Envelope)
		if err != nil {
			batch.Reject(i, err.Error())
			res.Failure = &Failure{Kind: FailInternal, Message: "undecodable command: " + err.Error()}
			results = append(results, res)
			continue
		}
		typ := m.Envelope.Type
		brand := h.brands[cmd.AggregateKey()]
		if brand == nil {
			brand = &catalog.Brand{}
		}
		if h.applied[m.Envelope.EventID] {
			// Redelivered after its events were appended: answer again.
			r := resultOf(brand, cmd)
			r.CommandID = res.CommandID
			results = append(results, r)
			continue
		}
		occurred := now
		if !at.IsZero() {
			if err := h.p.checkBackdated(brand, at, now); err != nil {
				res.Failure = failureOf(err)
				h.p.decided.WithLabelValues(typ, res.Failure.Kind).Inc()
				results = append(results, res)
				continue
			}
			occurred = at.UTC()
		}
		evs, err := catalog.Decide(brand, cmd, h.generator(ctx, brand, cmd))
		if err != nil {
			res.Failure = failureOf(err)
			h.p.decided.WithLabelValues(typ, res.Failure.Kind).Inc()
			results = append(results, res)
			continue
		}
		for _, ev := range evs {
			env, err := schemas.NewEnvelope(ev, cmd.AggregateKey(), cmd.AggregateKey(), occurred, now)
			if err != nil {
				// Decide emitted an event its schema refuses: a bug. Nothing
				// of this command is appended.
				h.log.Error("decided event does not validate", "command", typ, "err", err)
				res.Failure = &Failure{Kind: FailInternal, Message: "internal error deciding " + typ}
				break
			}
			env = env.WithCause(m.Envelope.EventID, m.Envelope.CorrelationID)
			events = append(events, env)
		}
		if res.Failure != nil {
			h.p.decided.WithLabelValues(typ, res.Failure.Kind).Inc()
			results = append(results, res)
			continue
		}
		for _, env := range events[len(events)-len(evs):] {
			ev, _ := schemas.DecodeTrusted(env)
			h.evolve(env, ev)
		}
		h.p.decided.WithLabelValues(typ, "ok").Inc()
		r := resultOf(h.brands[cmd.AggregateKey()], cmd)
		r.CommandID = res.CommandID
		results = append(results, r)
	}
	if len(events) > 0 {
		first, err := h.p.cfg.Store.AppendToPartition(ctx, schemas.TopicCatalog, h.partition, events...)
		if err != nil {
			h.dirty = true
			return err
		}
		h.waitProjected(ctx, first+int64(len(events)))
	}
	for _, r := range results {
		body, err := json.Marshal(r)
		if err != nil {
			return fmt.Errorf("encode result of %s: %w", r.CommandID, err)
		}
		if err := h.p.cfg.Replier.Reply(ctx, r.CommandID, body); err != nil {
			// The events are durable; the batch is retried and answers again.
			return fmt.Errorf("reply to %s: %w", r.CommandID, err)
		}
	}
	return nil
}

// ErrBackdatingOff refuses a backdated command on a processor without
// ProcessorConfig.AllowBackdating.
var ErrBackdatingOff = &catalog.ValidationError{Field: "occurred_at", Message: "this engine does not accept backdated commands"}

// checkBackdated refuses a backdated command unless backdating is allowed
// and at suits the brand.
func (p *Processor) checkBackdated(b *catalog.Brand, at, now time.Time) error {
	if !p.cfg.AllowBackdating {
		return ErrBackdatingOff
	}
	return catalog.CheckEffectiveTime(b, at, now)
}

// generator gives a ConfirmCode without a code text its code generator.
func (h *partition) generator(ctx context.Context, b *catalog.Brand, cmd catalog.BrandCommand) catalog.CodeGenerator {
	c, ok := cmd.(catalog.ConfirmCode)
	if !ok || c.Code != "" {
		return nil
	}
	name := ""
	if q, ok := b.Request(c.RequestID); ok && h.p.cfg.CreatorName != nil {
		if n, err := h.p.cfg.CreatorName(ctx, q.CreatorID); err == nil {
			name = n
		}
	}
	return catalog.NewCodeGenerator(name)
}

// waitProjected waits until the projection has read up to next.
func (h *partition) waitProjected(ctx context.Context, next int64) {
	start := time.Now()
	if err := waitProjected(ctx, h.p.cfg.Projected, h.partition, next, h.p.cfg.ProjectionWait); err != nil {
		h.log.Warn("projection did not catch up in time; answering anyway", "want_offset", next, "err", err)
		return
	}
	h.p.waits.Observe(time.Since(start).Seconds())
}

// waitProjected polls projected until it reports at least next for
// partition, or wait passes. A nil projected is always caught up.
func waitProjected(ctx context.Context, projected ProjectedFunc, partition int, next int64, wait time.Duration) error {
	if projected == nil {
		return nil
	}
	deadline := time.Now().Add(wait)
	delay := time.Millisecond
	for {
		got, err := projected(ctx, partition)
		if err == nil && got >= next {
			return nil
		}
		if time.Now().After(deadline) {
			if err == nil {
				err = fmt.Errorf("projection at offset %d of partition %d, want %d", got, partition, next)
			}
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(delay):
		}
		delay = min(delay*2, 50*time.Millisecond)
	}
}
