package main

import (
	"context"

	"github.com/attrib-engine/attrib/attribution/worker"
	"github.com/attrib-engine/attrib/readmodel"
)

// coldStates adapts readmodel.WorkerStates (ClickHouse) to the worker's
// worker.ColdStore port.
type coldStates struct{ ws *readmodel.WorkerStates }

func (c coldStates) SaveStates(ctx context.Context, states []worker.ColdState) error {
	out := make([]readmodel.WorkerState, len(states))
	for i, s := range states {
		out[i] = readmodel.WorkerState{OrderRef: readmodel.OrderRef(s.OrderRef), Progress: s.Progress, State: s.State}
	}
	return c.ws.Save(ctx, out)
}

func (c coldStates) LoadStates(ctx context.Context, orders []worker.OrderRef) (map[worker.OrderRef][]byte, error) {
	refs := make([]readmodel.OrderRef, len(orders))
	for i, o := range orders {
		refs[i] = readmodel.OrderRef(o)
	}
	got, err := c.ws.Load(ctx, refs)
	if err != nil {
		return nil, err
	}
	out := make(map[worker.OrderRef][]byte, len(got))
	for k, v := range got {
		out[worker.OrderRef(k)] = v
	}
	return out, nil
}
