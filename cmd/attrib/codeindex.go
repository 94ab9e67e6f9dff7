package main

import (
	"context"

	"github.com/attrib-engine/attrib/attribution/worker"
	"github.com/attrib-engine/attrib/projections/rediscatalog"
)

// codeIndex serves the attribution worker's index from the Redis catalog
// projection: its lookups as they are, its watermarks converted.
type codeIndex struct{ *rediscatalog.Projection }

func (c codeIndex) Watermarks(ctx context.Context) (map[int]worker.Watermark, error) {
	wms, err := c.Projection.Watermarks(ctx)
	if err != nil {
		return nil, err
	}
	out := make(map[int]worker.Watermark, len(wms))
	for p, w := range wms {
		out[p] = worker.Watermark{Offset: w.Offset, OccurredAt: w.OccurredAt}
	}
	return out, nil
}
