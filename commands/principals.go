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
	now := time.Now
	if p.Now != nil {
		now = p.Now
	}
	t := now().UTC()
	envs := make([]schemas.Envelope, 0, len(evs))
	for _, ev := range evs {
		env, err := schemas.NewEnvelope(ev, key, "", t, t)
		if err != nil {
			return fmt.Errorf("register %s: %w", key, err)
		}
		envs = append(envs, env)
	}
	n, err := p.Store.Partitions(ctx, schemas.TopicCatalog)
	if err != nil {
		return err
	}
	part := eventstore.PartitionOf(key, n)
	first, err := p.Store.AppendToPartition(ctx, schemas.TopicCatalog, part, envs...)
	if err != nil {
		return err
	}
	wait := p.Wait
	if wait <= 0 {
		wait = 10 * time.Second
	}
	// Durable now; if the read model is slow the new token works a moment
	// later. Failing the call would make the caller register twice.
	_ = waitProjected(ctx, p.Projected, part, first+int64(len(envs)), wait)
	return nil
}
