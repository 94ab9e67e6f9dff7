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
}

// RegisterCreator validates and records a creator.
func (p *Principals) RegisterCreator(ctx context.Context, cmd catalog.RegisterCreator) error {
	evs, err := catalog.DecideCreator(nil, cmd)
	if err != nil {
		return err
	}
	return p.record(ctx, cmd.CreatorID, evs)
}

// RegisterAnalyst validates and records an analyst.
func (p *Principals) RegisterAnalyst(ctx context.Context, cmd catalog.RegisterAnalyst) error {
	evs, err := catalog.DecideAnalyst(nil, cmd)
	if err != nil {
		return err
	}
	return p.record(ctx, cmd.AnalystID, evs)
}

func (p *Principals) record(ctx context.Context, key string, evs []schemas.Event) error {
	n, err := p.Store.Partitions(ctx, schemas.TopicCatalog)
	if err != nil {
		return err
	}
	_, err = p.append(ctx, key, eventstore.PartitionOf(key, n), evs)
	return err
}

// append appends evs to the catalog partition of key, stamped with the
// clock, and waits (bounded) until the projection has them.
func (p *Principals) append(ctx context.Context, key string, part int, evs []schemas.Event) ([]schemas.Envelope, error) {
	now := time.Now
	if p.Now != nil {
		now = p.Now
	}
	t := now().UTC()
	envs := make([]schemas.Envelope, 0, len(evs))
	for _, ev := range evs {
		env, err := schemas.NewEnvelope(ev, key, "", t, t)
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
