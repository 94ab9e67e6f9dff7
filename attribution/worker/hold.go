package worker

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/attrib-engine/attrib/attribution"
	"github.com/attrib-engine/attrib/eventstore"
	"github.com/attrib-engine/attrib/schemas"
)

// holdBatch is the most hold expiries one append carries.
const holdBatch = 500

// partitionHandler handles one partition of attrib.orders for one group
// generation, and emits the hold expiries that fall due in it meanwhile.
type partitionHandler struct {
	w         *Worker
	partition int
	state     *partitionState
	log       *slog.Logger
	cancel    context.CancelFunc
	done      chan struct{}
	closeOnce sync.Once
	// applied is the partition's applied offset in Redis when the handler
	// started, -1 if none was stored.
	applied int64
}

func (w *Worker) newPartitionHandler(ctx context.Context, partition int, bd *bounds) *partitionHandler {
	hctx, cancel := context.WithCancel(ctx)
	h := &partitionHandler{
		w: w, partition: partition, cancel: cancel, done: make(chan struct{}),
		state: newPartitionState(w.cacheSize),
		log:   w.log.With("partition", partition),
	}
	h.state.bounds = bd
	go h.runHolds(hctx)
	return h
}

// Handle implements eventstore.PartitionHandler.
func (h *partitionHandler) Handle(ctx context.Context, b *eventstore.Batch) error {
	return h.w.handle(ctx, b, h.state)
}

// StartOffset implements eventstore.StartOffsetter: consumption starts at
// the partition's applied offset when the worker's state in Redis is
// behind the group's committed offset. That happens only when Redis lost
// writes it had acknowledged (with appendfsync everysec, the last second
// before a crash of its machine, or a restore from an older backup): the
// states no longer hold events the group went past, so those events are
// read and applied again. Rows of the versions already emitted are emitted
// again, the same (see "A batch" in the package documentation). No applied
// offset (a state written before this version, or none yet) trusts the
// committed offset.
func (h *partitionHandler) StartOffset(committed int64) int64 {
	if h.applied < 0 || committed < 0 || h.applied >= committed {
		return committed
	}
	h.w.m.rewinds.Inc()
	h.log.Error("the worker's state in Redis is behind the committed offset: Redis lost acknowledged writes; reading the partition again from the applied offset",
		"applied_offset", h.applied, "committed_offset", committed, "events", committed-h.applied)
	return h.applied
}

// appliedOffset reads the applied offset of a partition (-1 if none).
func (w *Worker) appliedOffset(ctx context.Context, partition int) (int64, error) {
	v, err := w.rdb.Get(ctx, w.appliedKey(partition)).Int64()
	switch {
	case errors.Is(err, redis.Nil):
		return -1, nil
	case err != nil:
		return 0, fmt.Errorf("read the applied offset of partition %d: %w", partition, err)
	}
	return v, nil
}

// Close stops the hold emitter and waits for it; the subscriber calls it
// when the partition's generation ends.
func (h *partitionHandler) Close() error {
	h.closeOnce.Do(h.cancel)
	<-h.done
	return nil
}

// runHolds emits the partition's due holds every HoldTick, and evicts its
// due states every EvictInterval (at the first tick, then on the tick
// after each interval), until ctx ends.
func (h *partitionHandler) runHolds(ctx context.Context) {
	defer close(h.done)
	t := time.NewTicker(h.w.tick)
	defer t.Stop()
	var evicted time.Time // when the last eviction step started
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if _, err := h.w.EmitDueHolds(ctx, h.partition); err != nil && ctx.Err() == nil {
			h.w.m.holdErrors.Inc()
			h.log.Warn("hold expiry: emitting due holds failed; retrying at the next tick", "err", err)
		}
		if time.Since(evicted) < h.w.evictEvery {
			continue
		}
		evicted = time.Now()
		if _, err := h.w.EvictDue(ctx, h.partition, h.state.bounds); err != nil && ctx.Err() == nil {
			h.w.m.evictErrors.Inc()
			h.log.Warn("retention: evicting settled orders failed; they stay in redis until the next step", "err", err, "next_in", h.w.evictEvery)
		}
	}
}

// EmitDueHolds appends an order.hold_expired to attrib.orders for every
// order of the given partition of attrib.orders whose hold ended (by the
// worker's clock) and that is still scheduled, then unschedules them. It
// returns how many it appended. The partition's handler calls it every
// HoldTick; calling it elsewhere at the same time is harmless.
//
// Each event has occurred_at = its hold_ends_at and an event id derived
// from the order and the hold end, so an expiry emitted twice (a crash
// between the append and the unscheduling, two owners during a rebalance)
// is the same event, which the core applies once. The event comes back
// through the worker like any order event: the order becomes approved
// unless a cancellation or full refund occurred before the hold ended.
func (w *Worker) EmitDueHolds(ctx context.Context, partition int) (int, error) {
	if err := w.loadScripts(ctx); err != nil {
		return 0, err
	}
	now := w.now()
	buckets, err := w.dueBuckets(ctx, schedHolds, partition, now.UnixMilli())
	if err != nil {
		return 0, err
	}
	total := 0
	for _, bk := range buckets {
		n, err := w.emitBucket(ctx, partition, bk, now)
		total += n
		if err != nil {
			w.scriptsLost(err)
			return total, err
		}
	}
	return total, nil
}

// emitBucket emits the due holds of one bucket of a partition's hold
// schedule, holdBatch at a time. An entry is due once the second it
// names has begun; the order's state then says whether its hold is still
// due and when exactly it ends. Entries whose order has no such hold any
// more (or no state) are dropped; an entry whose hold ends later in its
// second stays.
func (w *Worker) emitBucket(ctx context.Context, partition int, bk int64, now time.Time) (int, error) {
	key := w.bucketKey(schedHolds, partition, bk)
	idx := w.indexKey(schedHolds, partition)
	entries, err := w.rdb.LRange(ctx, key, 0, -1).Result()
	if err != nil {
		return 0, fmt.Errorf("read hold bucket %s: %w", key, err)
	}
	if len(entries) == 0 {
		return 0, w.rdb.EvalSha(ctx, unschedSHA, []string{key, idx}, bk, "any").Err()
	}
	type cand struct {
		entry   string
		num     uint64
		orderID string
	}
	var cands []cand
	var bad []any
	for _, e := range entries {
		num, orderID, from, err := parseHoldEntry(bk, e)
		switch {
		case err != nil:
			w.log.Error("hold schedule: dropping an entry that does not decode", "key", key, "err", err)
			bad = append(bad, e)
		case from <= now.UnixMilli():
			cands = append(cands, cand{e, num, orderID})
		}
	}
	if len(bad) > 0 {
		if err := w.rdb.EvalSha(ctx, unschedSHA, []string{key, idx}, append([]any{bk, "any"}, bad...)...).Err(); err != nil {
			return 0, fmt.Errorf("drop %d hold entries of %s: %w", len(bad), key, err)
		}
	}
	total := 0
	for len(cands) > 0 {
		chunk := cands[:min(len(cands), holdBatch)]
		cands = cands[len(chunk):]
		nums := make([]uint64, len(chunk))
		for i, c := range chunk {
			nums[i] = c.num
		}
		brands, err := w.brandIDs(ctx, nums)
		if err != nil {
			return total, err
		}
		pipe := w.rdb.Pipeline()
		cmds := make([]*redis.StringCmd, len(chunk))
		for i, c := range chunk {
			if brand, ok := brands[c.num]; ok {
				cmds[i] = pipe.Get(ctx, w.orderKey(brand, c.orderID))
			}
		}
		_, _ = pipe.Exec(ctx) // each command's error is looked at below
		envs := make([]schemas.Envelope, 0, len(chunk))
		done := []any{bk, "any"}
		for i, c := range chunk {
			if cmds[i] == nil {
				w.log.Error("hold schedule: dropping an entry of an unknown brand", "key", key, "brand_number", c.num)
				done = append(done, c.entry)
				continue
			}
			brand := brands[c.num]
			val, err := cmds[i].Bytes()
			switch {
			case errors.Is(err, redis.Nil):
				done = append(done, c.entry) // evicted or dropped: nothing is due
				continue
			case err != nil && !isWrongType(err):
				return total, fmt.Errorf("read %d states of due holds: %w", len(chunk), err)
			}
			var st attribution.OrderState
			if err := w.restoreAny(ctx, &st, brand, c.orderID, val, err != nil); err != nil {
				w.log.Error("hold schedule: the order's state does not restore; dropping its entry", "key", key, "order_id", c.orderID, "err", err)
				done = append(done, c.entry)
				continue
			}
			h, ok := attribution.HoldDue(&st)
			if !ok {
				done = append(done, c.entry)
				continue
			}
			if _, e := holdEntry(c.num, c.orderID, dueScore(h.HoldEndsAt)); e != c.entry {
				done = append(done, c.entry) // stale: the order's entry is elsewhere
				continue
			}
			if h.HoldEndsAt.After(now) {
				continue // ends later within its second
			}
			env, err := schemas.NewEnvelopeFor(h, h.HoldEndsAt, now)
			if err != nil {
				w.log.Error("hold schedule: dropping an entry that makes no valid event", "key", key, "order_id", c.orderID, "err", err)
				done = append(done, c.entry)
				continue
			}
			env.EventID = holdEventID(env.AggregateKey, h.HoldEndsAt)
			envs = append(envs, env)
			done = append(done, c.entry)
		}
		if len(envs) > 0 {
			if err := w.store.Append(ctx, schemas.TopicOrders, envs...); err != nil {
				return total, fmt.Errorf("emit %d hold expiries: %w", len(envs), err)
			}
			total += len(envs)
			w.m.holds.Add(float64(len(envs)))
		}
		if len(done) > 2 {
			if err := w.rdb.EvalSha(ctx, unschedSHA, []string{key, idx}, done...).Err(); err != nil {
				return total, fmt.Errorf("unschedule %d holds: %w", len(done)-2, err)
			}
		}
	}
	return total, nil
}

// holdEventID is the event id of an order's hold expiry: the same for
// every emission of one hold.
func holdEventID(orderKey string, endsAt time.Time) string {
	sum := sha256.Sum256([]byte("hold:" + orderKey + ":" + endsAt.UTC().Format(time.RFC3339Nano)))
	return hex.EncodeToString(sum[:16])
}
