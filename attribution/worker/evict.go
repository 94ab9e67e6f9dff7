package worker

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/attrib-engine/attrib/attribution"
	"github.com/attrib-engine/attrib/internal/rediskey"
	"github.com/attrib-engine/attrib/schemas"
)

// # Retention
//
// An order that is settled (attribution.Settled: decided, no hold due,
// unattributed or approved or rejected) for longer than Config.Retention
// after its last event leaves Redis: each partition handler, every
// EvictInterval, takes the entries of its eviction schedule's buckets
// begun (eq:{<partition>}, schedule.go), reads their states, saves those
// whose retention ended to the ColdStore, raises its
// brands' placed bounds (evicted:<partition>), then deletes each state if
// it is still the one saved (a batch may have changed it meanwhile, and
// rescheduled it). A late event of an evicted order (a refund a year
// later, a replayed duplicate) finds no state in Redis and loads its
// snapshot back from the ColdStore before anything is applied, so it is
// applied to exactly the state the order had: a duplicate stays a
// duplicate, the version goes on from where it was, and nothing is
// decided as new. The reloaded state is written back to Redis and leaves
// again once due.
//
// A brand-new order does not pay for the cold lookup: the placed bound of
// a brand in a partition is the latest placed time of any order of the
// brand evicted there, so an order missing from Redis whose batch carries
// its placement, placed after the bound, cannot have been evicted. Every
// other miss (an event before its order's placement, a placement at or
// before the bound) is looked up, all of a batch's in one query. The one
// case the bound cannot tell: a shop that reuses an evicted order's id for
// a new order placed after the bound gets it decided as a new order,
// where the kept state would have refused the second placement with other
// facts as poison.
//
// Failures: a ColdStore that cannot save leaves the states in Redis (the
// eviction is retried at the next tick); one that cannot load fails the
// batch, which the subscriber retries with backoff, committing nothing:
// an event is never decided without its order's state.

// DefaultRetention is Config.Retention when not set: how long a settled
// order's state stays in Redis after its last event. A settled order has
// no hold in progress (an order under hold is pending), so the window
// counted from its last event is the margin for late refunds and
// cancellations after approval, most of which come within a shop's 30-day
// return period.
const DefaultRetention = 30 * 24 * time.Hour

// evictBatch is the most states one insert into the ColdStore carries: a
// few megabytes of snapshots, so that a backlog (a first start with
// retention, a ColdStore that was down) goes out as few inserts.
const evictBatch = 5000

// ColdStore keeps the snapshots of evicted orders (readmodel.WorkerStates
// in ClickHouse, adapted in cmd/attrib). Each method is expected to take
// one round trip.
type ColdStore interface {
	// SaveStates stores the snapshots durably before returning nil.
	SaveStates(ctx context.Context, states []ColdState) error
	// LoadStates returns the snapshot of highest Progress of each order
	// that has one.
	LoadStates(ctx context.Context, orders []OrderRef) (map[OrderRef][]byte, error)
}

// OrderRef names one order.
type OrderRef struct {
	BrandID, OrderID string
}

// ColdState is an order's snapshot (attribution.AppendSnapshot) with its
// progress: Version << 32 | EmittedVersion, which only grows.
type ColdState struct {
	OrderRef
	Progress uint64
	State    []byte
}

// progressOf is a ColdState's Progress of a state.
func progressOf(st *attribution.OrderState) uint64 {
	return st.Version()<<32 | st.EmittedVersion()&(1<<32-1)
}

// bounds are the placed bounds of one partition's brands (Unix ms, rounded
// up), as its handler last wrote or read them.
type bounds struct {
	mu sync.Mutex
	m  map[string]int64
}

// provesNew reports whether an order of brand placed at placed cannot have
// been evicted.
func (bd *bounds) provesNew(brand string, placed time.Time) bool {
	bd.mu.Lock()
	defer bd.mu.Unlock()
	ms, ok := bd.m[brand]
	return !ok || placed.After(time.UnixMilli(ms))
}

func (bd *bounds) raise(brand string, ms int64) {
	bd.mu.Lock()
	defer bd.mu.Unlock()
	if ms > bd.m[brand] {
		bd.m[brand] = ms
	}
}

// readBounds reads a partition's placed bounds.
func (w *Worker) readBounds(ctx context.Context, partition int) (*bounds, error) {
	fields, err := w.rdb.HGetAll(ctx, w.evictedKey(partition)).Result()
	if err != nil {
		return nil, fmt.Errorf("read the evicted bounds of partition %d: %w", partition, err)
	}
	bd := &bounds{m: make(map[string]int64, len(fields))}
	for brand, v := range fields {
		ms, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("evicted bound of brand %s in partition %d: %q is not a time", brand, partition, v)
		}
		bd.m[brand] = ms
	}
	return bd, nil
}

// evictMember is an order's member in the eviction schedule.
func evictMember(brandID, orderID string) string {
	return rediskey.Seg(brandID) + ":" + rediskey.Seg(orderID)
}

func parseEvictMember(m string) (brandID, orderID string, ok bool) {
	b, o, ok := strings.Cut(m, ":")
	if !ok || b == "" || o == "" {
		return "", "", false
	}
	return rediskey.Unseg(b), rediskey.Unseg(o), true
}

// evictState deletes an order's state (KEYS[1]) if it is still ARGV[1].
const evictState = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
`

// raiseBounds sets each brand's placed bound (ARGV: brand, Unix ms, ...)
// in KEYS[1] to the given one if that is higher.
const raiseBounds = `
for i = 1, #ARGV, 2 do
  local cur = tonumber(redis.call('HGET', KEYS[1], ARGV[i]) or '0')
  if tonumber(ARGV[i+1]) > cur then
    redis.call('HSET', KEYS[1], ARGV[i], ARGV[i+1])
  end
end
return 0
`

var (
	evictStateSHA  = scriptSHA(evictState)
	raiseBoundsSHA = scriptSHA(raiseBounds)
)

// EvictDue moves the states of the given partition of attrib.orders whose
// retention ended (by the worker's clock) from Redis to the ColdStore, and
// returns how many it evicted; bd (nil: none kept in memory) receives the
// raised bounds. It takes the entries of the buckets of the eviction
// schedule that ended, earliest first, and evicts them in steps of at
// most evictBatch, each one insert into the ColdStore. The partition's
// handler calls it every EvictInterval; a rebuild calls it at the end.
// Without a ColdStore it does nothing.
func (w *Worker) EvictDue(ctx context.Context, partition int, bd *bounds) (int, error) {
	if w.cold == nil {
		return 0, nil
	}
	if err := w.loadScripts(ctx); err != nil {
		return 0, err
	}
	total := 0
	// kept counts, per bucket, the entries at its head that this call
	// looked at and left there (not due yet).
	kept := map[int64]int{}
	for {
		now := w.now()
		buckets, err := w.dueBuckets(ctx, schedEvict, partition, now.UnixMilli())
		if err != nil {
			return total, err
		}
		var step []evictItem
		for _, bk := range buckets {
			key := w.bucketKey(schedEvict, partition, bk)
			from := int64(kept[bk])
			entries, err := w.rdb.LRange(ctx, key, from, from+int64(evictBatch-len(step)-1)).Result()
			if err != nil {
				return total, fmt.Errorf("read eviction bucket %s: %w", key, err)
			}
			if len(entries) == 0 {
				if from == 0 {
					if err := w.rdb.EvalSha(ctx, unschedSHA, []string{key, w.indexKey(schedEvict, partition)}, bk, "any").Err(); err != nil {
						w.scriptsLost(err)
						return total, fmt.Errorf("drop the empty eviction bucket %s: %w", key, err)
					}
				}
				continue
			}
			for _, e := range entries {
				step = append(step, evictItem{bucket: bk, entry: e})
			}
			if len(step) >= evictBatch {
				break
			}
		}
		if len(step) == 0 {
			return total, nil
		}
		n, err := w.evict(ctx, partition, step, now, bd, kept)
		total += n
		if err != nil {
			w.scriptsLost(err)
			return total, err
		}
		w.m.evicted.Add(float64(n))
		if len(step) < evictBatch {
			return total, nil
		}
	}
}

// evictItem is an entry of an eviction bucket.
type evictItem struct {
	bucket int64
	entry  string
	// keep: its order is settled but not due yet, and belongs in the
	// same bucket (the current hour's).
	keep bool
}

// evict evicts the orders of one step's entries (each bucket's, read
// from its head after the kept ones): each due order's snapshot is saved
// in one insert, the brands' bounds raised, then each state deleted if
// it is still the one saved. An order due later in the same bucket stays
// (counted in kept); one due in a later bucket is scheduled there; every
// other entry leaves its bucket.
func (w *Worker) evict(ctx context.Context, partition int, items []evictItem, now time.Time, bd *bounds, kept map[int64]int) (int, error) {
	type victim struct {
		item     evictItem
		key      string
		val      []byte
		placedMS int64
		brandID  string
	}
	refs := make([]OrderRef, len(items))
	nums := make([]uint64, len(items))
	ok := make([]bool, len(items))
	for i, it := range items {
		num, orderID, err := parseRef([]byte(it.entry))
		if err != nil {
			w.log.Error("eviction schedule: dropping an entry that does not decode", "bucket", it.bucket, "err", err)
			continue
		}
		nums[i], refs[i].OrderID, ok[i] = num, orderID, true
	}
	brands, err := w.brandIDs(ctx, nums)
	if err != nil {
		return 0, err
	}
	pipe := w.rdb.Pipeline()
	cmds := make([]*redis.StringCmd, len(items))
	for i := range items {
		brand, known := brands[nums[i]]
		if !ok[i] || !known {
			continue
		}
		refs[i].BrandID = brand
		cmds[i] = pipe.Get(ctx, w.orderKey(brand, refs[i].OrderID))
	}
	_, _ = pipe.Exec(ctx) // each command's error is looked at below
	var victims []victim
	var save []ColdState
	var ops schedOps
	for i, it := range items {
		if cmds[i] == nil {
			if ok[i] {
				w.log.Error("eviction schedule: dropping an entry of an unknown brand", "bucket", it.bucket, "brand_number", nums[i])
			}
			continue
		}
		val, err := cmds[i].Bytes()
		switch {
		case errors.Is(err, redis.Nil):
			continue // evicted already (an entry twice), or dropped
		case isWrongType(err):
			continue // a former form: its next batch writes a snapshot and schedules it
		case err != nil:
			return 0, fmt.Errorf("read %d states to evict: %w", len(items), err)
		}
		var st attribution.OrderState
		if err := attribution.RestoreSnapshot(&st, refs[i].BrandID, refs[i].OrderID, val); err != nil {
			// A former form: its next batch writes a snapshot and
			// schedules it. Leave it.
			w.log.Warn("eviction: the state is not a snapshot; keeping it in redis", "key", w.orderKey(refs[i].BrandID, refs[i].OrderID), "err", err)
			continue
		}
		last, settled := attribution.Settled(&st)
		switch {
		case !settled:
			continue // its next write schedules it again once settled
		case last.Add(w.retention).After(now):
			bk, e := evictEntry(nums[i], refs[i].OrderID, last.Add(w.retention).UnixMilli())
			if bk == it.bucket && e == it.entry {
				items[i].keep = true
			} else {
				ops.put(&ops.once, schedEvict, bk, e)
			}
			continue
		}
		placed, _ := st.PlacedAt()
		ms := placed.UnixMilli()
		if placed.After(time.UnixMilli(ms)) {
			ms++
		}
		victims = append(victims, victim{item: it, key: w.orderKey(refs[i].BrandID, refs[i].OrderID), val: val, placedMS: ms, brandID: refs[i].BrandID})
		save = append(save, ColdState{OrderRef: refs[i], Progress: progressOf(&st), State: val})
	}
	if len(save) > 0 {
		if err := w.cold.SaveStates(ctx, save); err != nil {
			return 0, fmt.Errorf("evict %d order states: save them: %w", len(save), err)
		}
	}
	evicted := 0
	if len(victims) > 0 {
		// The bounds before the deletions: a batch that misses a state
		// must find its brand's bound raised.
		args := make([]any, 0, 2*len(victims))
		for _, v := range victims {
			args = append(args, v.brandID, v.placedMS)
		}
		if err := w.rdb.EvalSha(ctx, raiseBoundsSHA, []string{w.evictedKey(partition)}, args...).Err(); err != nil {
			return 0, fmt.Errorf("evict %d order states: raise the placed bounds: %w", len(victims), err)
		}
		if bd != nil {
			for _, v := range victims {
				bd.raise(v.brandID, v.placedMS)
			}
		}
		pipe = w.rdb.Pipeline()
		dels := make([]*redis.Cmd, len(victims))
		for i, v := range victims {
			dels[i] = pipe.EvalSha(ctx, evictStateSHA, []string{v.key}, v.val)
		}
		if _, err := pipe.Exec(ctx); err != nil {
			return 0, fmt.Errorf("evict %d order states: %w", len(victims), err)
		}
		for i, v := range victims {
			if n, _ := dels[i].Int(); n == 1 {
				evicted++
				continue
			}
			// Changed by a batch meanwhile, whose schedule entry may be
			// this one: it stays, to be looked at again.
			ops.put(&ops.once, schedEvict, v.item.bucket, v.item.entry)
		}
	}
	// The step's entries leave their buckets first (but those kept); what
	// is scheduled again goes in after.
	heads := map[int64][]any{}
	var order []int64
	for _, it := range items {
		if heads[it.bucket] == nil {
			heads[it.bucket] = []any{it.bucket, "head"}
			order = append(order, it.bucket)
		}
		flag := "0"
		if it.keep {
			flag = "1"
			kept[it.bucket]++
		}
		heads[it.bucket] = append(heads[it.bucket], flag+it.entry)
	}
	pipe = w.rdb.Pipeline()
	for _, bk := range order {
		pipe.EvalSha(ctx, unschedSHA, []string{w.bucketKey(schedEvict, partition, bk), w.indexKey(schedEvict, partition)}, heads[bk]...)
	}
	ops.send(ctx, w, pipe, partition)
	if _, err := pipe.Exec(ctx); err != nil {
		return evicted, fmt.Errorf("unschedule %d evicted orders: %w", len(items), err)
	}
	return evicted, nil
}

// loadCold loads the states of orders missing from Redis that may have been
// evicted (see "Retention"), in one ColdStore round trip; an order without
// a snapshot there is new.
func (w *Worker) loadCold(ctx context.Context, b *batch, orders []*order) error {
	refs := make([]OrderRef, len(orders))
	for i, o := range orders {
		refs[i] = OrderRef{o.brandID, o.orderID}
	}
	got, err := w.cold.LoadStates(ctx, refs)
	if err != nil {
		return fmt.Errorf("load %d evicted order states: %w", len(orders), err)
	}
	b.stats.coldLookups += len(orders)
	for i, o := range orders {
		val, ok := got[refs[i]]
		if !ok {
			continue
		}
		if err := attribution.RestoreSnapshot(&o.st, o.brandID, o.orderID, val); err != nil {
			return fmt.Errorf("evicted order state %s/%s: %w", o.brandID, o.orderID, err)
		}
		// Back to Redis with the batch's write, even if the batch only
		// brings duplicates.
		o.dirty = true
		b.stats.coldLoads++
		o.holdBefore = w.schedOf(&o.st)
	}
	return nil
}

// mayBeEvicted reports whether an order missing from Redis needs a cold
// lookup: not when its batch carries its placement, placed after its
// brand's bound.
func (w *Worker) mayBeEvicted(b *batch, o *order) bool {
	if w.cold == nil || b.ps == nil || b.ps.bounds == nil {
		return false // no retention, or a rebuild (which replays everything)
	}
	for _, it := range o.items {
		if _, ok := it.ev.(*schemas.OrderPlaced); ok && b.ps.bounds.provesNew(o.brandID, b.Messages[it.i].Envelope.OccurredAt) {
			return false
		}
	}
	return true
}
