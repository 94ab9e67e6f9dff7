package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
)

// component is one long-running part of the engine. Run returns when ctx
// ends, after it has flushed its work, or earlier with an error.
type component struct {
	name string
	run  func(ctx context.Context) error
}

// runGroup runs components until ctx ends or one of them fails, then stops
// them in the reverse order of their start, each after the one started after
// it has returned: the HTTP server stops taking requests before the consumers
// drain, and those drain before the log closes.
func runGroup(ctx context.Context, log *slog.Logger, comps []component) error {
	type running struct {
		cancel context.CancelFunc
		done   chan error
	}
	failed := make(chan error, len(comps))
	rs := make([]running, len(comps))
	for i, c := range comps {
		cctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		rs[i] = running{cancel: cancel, done: make(chan error, 1)}
		go func() {
			err := c.run(cctx)
			if err != nil && !errors.Is(err, context.Canceled) {
				err = fmt.Errorf("%s: %w", c.name, err)
			} else {
				err = nil
			}
			rs[i].done <- err
			if cctx.Err() == nil {
				// Returned on its own: stop everything.
				failed <- err
			}
		}()
	}
	var first error
	select {
	case <-ctx.Done():
		log.Info("shutting down")
	case err := <-failed:
		first = err
		if err != nil {
			log.Error("component failed; shutting down", "err", err)
		} else {
			log.Warn("a component stopped by itself; shutting down")
		}
	}
	for i := len(comps) - 1; i >= 0; i-- {
		rs[i].cancel()
		if err := <-rs[i].done; err != nil && first == nil {
			first = err
		}
		log.Debug("stopped", "component", comps[i].name)
	}
	return first
}
