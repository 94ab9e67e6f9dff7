package commands

import (
	"context"
	"fmt"
	"time"

	"github.com/attrib-engine/attrib/catalog"
	"github.com/attrib-engine/attrib/eventstore"
	"github.com/attrib-engine/attrib/schemas"
)

// Principals records creators' and analysts' registrations. They decide
// nothing that another writer could race (each has a fresh random id), so
// they are appended directly to the catalog topic instead of going through
// a processor; the call returns once the projection has them, so the new
// token works at once.
type Principals struct {
	Store     *eventstore.Store
	Projected ProjectedFunc
	// Wait bounds the wait for the projection. Default 10 s.
	Wait time.Duration
	Now  func() time.Time
	// Tokens reads creators' and analysts' states; required by token
	// rotations only.
	Tokens TokenStates
	// Locks serialises the token rotations of one principal; nil is fine
	// for a single API process.
	Locks Locker
	// AllowBackdating lets RegisterCreatorAt and RegisterAnalystAt record
	// a registration at a past time (see ProcessorConfig.AllowBackdating);
	// off, they refuse one with ErrBackdatingOff.
	AllowBackdating bool
}

// RegisterCreator validates and records a creator.
func (p *Principals) RegisterCreator(ctx context.Context, cmd catalog.RegisterCreator) error {
	return p.RegisterCreatorAt(ctx, cmd, time.Time{})
}

// RegisterCreatorAt is RegisterCreator with the registration taking effect
// at at, a past time (a zero at is now): refused unless AllowBackdating,
// and for a time in the future (a *catalog.ValidationError for
// "occurred_at").
func (p *Principals) RegisterCreatorAt(ctx context.Context, cmd catalog.RegisterCreator, at time.Time) error {
	evs, err := catalog.DecideCreator(nil, cmd)
	if err != nil {
		return err
	}
	return p.record(ctx, cmd.CreatorID, evs, at)
}

// RegisterAnalyst validates and records an analyst.
func (p *Principals) RegisterAnalyst(ctx context.Context, cmd catalog.RegisterAnalyst) error {
	return p.RegisterAnalystAt(ctx, cmd, time.Time{})
}

// RegisterAnalystAt is RegisterAnalyst taking effect at at, as
// RegisterCreatorAt.
func (p *Principals) RegisterAnalystAt(ctx context.Context, cmd catalog.RegisterAnalyst, at time.Time) error {
	evs, err := catalog.DecideAnalyst(nil, cmd)
	if err != nil {
		return err
	}
	return p.record(ctx, cmd.AnalystID, evs, at)
}

func (p *Principals) record(ctx context.Context, key string, evs []schemas.Event, at time.Time) error {
	if !at.IsZero() {
		if !p.AllowBackdating {
			return ErrBackdatingOff
		}
		// A principal's registration is its first event: only the future
		// is refused.
		if err := catalog.CheckEffectiveTime(nil, at, p.clock()()); err != nil {
			return err
		}
	}
	n, err := p.Store.Partitions(ctx, schemas.TopicCatalog)
	if err != nil {
		return err
	}
	_, err = p.appendAt(ctx, key, eventstore.PartitionOf(key, n), evs, at)
	return err
}

func (p *Principals) clock() func() time.Time {
	if p.Now != nil {
		return p.Now
	}
	return time.Now
}

// append appends evs to the catalog partition of key, stamped with the
// clock, and waits (bounded) until the projection has them.
func (p *Principals) append(ctx context.Context, key string, part int, evs []schemas.Event) ([]schemas.Envelope, error) {
	return p.appendAt(ctx, key, part, evs, time.Time{})
}

// appendAt is append with the events' occurred_at set to at (recorded_at
// stays the clock's); a zero at is the clock.
func (p *Principals) appendAt(ctx context.Context, key string, part int, evs []schemas.Event, at time.Time) ([]schemas.Envelope, error) {
	t := p.clock()().UTC()
	occurred := t
	if !at.IsZero() {
		occurred = at.UTC()
	}
	envs := make([]schemas.Envelope, 0, len(evs))
	for _, ev := range evs {
		env, err := schemas.NewEnvelope(ev, key, "", occurred, t)
		if err != nil {
			return nil, fmt.Errorf("record %s for %s: %w", ev.EventType(), key, err)
		}
		envs = append(envs, env)
	}
	first, err := p.Store.AppendToPartition(ctx, schemas.TopicCatalog, part, envs...)
	if err != nil {
		return nil, err
	}
	// Durable now; if the read model is slow the new token works a moment
	// later. Failing the call would make the caller register twice.
	_ = waitProjected(ctx, p.Projected, part, first+int64(len(envs)), p.wait())
	return envs, nil
}

func (p *Principals) wait() time.Duration {
	if p.Wait <= 0 {
		return 10 * time.Second
	}
	return p.Wait
}
