package worker

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/attrib-engine/attrib/attribution"
)

// writeStates writes the snapshot of every order the batch changed,
// updates the hold schedule of the orders partition and sets the
// partition's applied offset to the batch's next offset, in one pipelined
// round trip. Every command is idempotent, so a batch retried after a
// partial write writes the same again. A due hold
// is written again for every order the batch touched whose state was read
// from Redis, so that a retry after a write that stored the state but not
// the schedule repairs it; a state from the cache was stored with its
// schedule by a write that succeeded, so an unchanged hold is not written
// again (if the hold emitter removed it since, its expiry is in the log).
//
// A snapshot replaces the stored one only if it is not behind it
// (setState): a writer of a former group generation still finishing a
// batch cannot undo what the partition's new owner wrote.
func (w *Worker) writeStates(ctx context.Context, b *batch) error {
	if err := w.loadScripts(ctx); err != nil {
		return err
	}
	pipe := w.rdb.Pipeline()
	buf := []byte{}
	if b.ps != nil && b.ps.snaps != nil {
		buf = b.ps.snaps[:0]
	}
	type snap struct {
		o          *order
		start, end int
	}
	snaps := make([]snap, 0, len(b.orders))
	for _, o := range b.orders {
		if o.dirty || o.migrate {
			start := len(buf)
			buf = attribution.AppendSnapshot(buf, &o.st)
			snaps = append(snaps, snap{o, start, len(buf)})
		}
	}
	b.snaps = buf
	for _, s := range snaps {
		o, val := s.o, buf[s.start:s.end:s.end]
		if o.migrate {
			// One SET replaces the former form, whatever its type.
			pipe.Set(ctx, o.key, val, 0)
			continue
		}
		pipe.EvalSha(ctx, setStateSHA, []string{o.key}, val, o.st.Version(), o.st.EmittedVersion())
	}
	if err := w.scheduleAll(ctx, pipe, b); err != nil {
		return err
	}
	// Last: on one Redis, whose append-only file keeps the commands in
	// order, an applied offset that survived a crash means the states it
	// covers did too (StartOffset).
	pipe.Set(ctx, w.appliedKey(b.Partition), b.Next, 0)
	b.stats.roundTrips++
	if _, err := pipe.Exec(ctx); err != nil {
		w.scriptsLost(err)
		return fmt.Errorf("write %d order states: %w", len(b.orders), err)
	}
	return nil
}

// setState is the script that stores an order's snapshot (ARGV[1]) unless
// the stored one is ahead of it: more events (ARGV[2] is the new one's
// Version), or as many and a later row (ARGV[3], its EmittedVersion).
// The stored one's are the two uvarints after its first two bytes
// (attribution.SnapshotProgress). A stored value of another form is
// replaced.
const setState = `
local cur = redis.call('GET', KEYS[1])
if cur and string.byte(cur, 1) == 83 and string.byte(cur, 2) == 1 then
  local pos = 3
  local function uv()
    local v, mul = 0, 1
    while true do
      local c = string.byte(cur, pos)
      if c == nil then return -1 end
      pos = pos + 1
      v = v + (c % 128) * mul
      if c < 128 then return v end
      mul = mul * 128
    end
  end
  local ver = uv()
  local em = uv()
  local nv, ne = tonumber(ARGV[2]), tonumber(ARGV[3])
  if ver > nv or (ver == nv and em > ne) then return 0 end
end
redis.call('SET', KEYS[1], ARGV[1])
return 1
`

var setStateSHA = scriptSHA(setState)

// scriptSHA is the SHA-1 Redis names a script by.
func scriptSHA(script string) string {
	sum := sha1.Sum([]byte(script))
	return hex.EncodeToString(sum[:])
}

// loadScripts loads the worker's scripts into Redis (every master of a
// cluster) once, and again after an error says Redis lost them (a restart
// without persistence of scripts, a failover).
func (w *Worker) loadScripts(ctx context.Context) error {
	if w.scriptsReady.Load() {
		return nil
	}
	for _, s := range scripts {
		if err := w.rdb.ScriptLoad(ctx, s).Err(); err != nil {
			return fmt.Errorf("load the worker's scripts into redis: %w", err)
		}
	}
	w.scriptsReady.Store(true)
	return nil
}

// scripts are the Lua scripts the worker runs by their SHA-1.
var scripts = []string{setState, evictState, raiseBounds, sched, unsched, assignBrands}

// scriptsLost marks the scripts for loading again if err says Redis does
// not have them.
func (w *Worker) scriptsLost(err error) {
	if err != nil && strings.Contains(err.Error(), "NOSCRIPT") {
		w.scriptsReady.Store(false)
	}
}

// scheduled is where an order is in its partition's schedules
// (schedule.go): when its hold ends, or when its retention ends, if
// either is due.
type scheduled struct {
	// hold is when its hold ends (Unix ms, rounded up; dueScore); 0: no
	// hold is due.
	hold int64
	// evict is when its retention ends (Unix ms), with a ColdStore; 0: not
	// settled, or no ColdStore.
	evict int64
}

// schedOf returns where an order with state st belongs in the schedules.
func (w *Worker) schedOf(st *attribution.OrderState) scheduled {
	var s scheduled
	if h, ok := attribution.HoldDue(st); ok {
		s.hold = dueScore(h.HoldEndsAt)
	}
	if w.cold != nil {
		if last, ok := attribution.Settled(st); ok {
			s.evict = last.Add(w.retention).UnixMilli()
		}
	}
	return s
}

// scheduleAll adds to pipe the schedule changes of the batch's orders:
// an order's entry is added where its state now belongs and removed from
// where it was, if that differs. An order whose state was read from Redis
// with the same place gets its entry again if absent (a retry after a
// write that stored the state but not the schedule repairs it); one from
// the cache was written with it.
func (w *Worker) scheduleAll(ctx context.Context, pipe redis.Pipeliner, b *batch) error {
	var brands []string
	for _, o := range b.orders {
		o.holdAfter = w.schedOf(&o.st)
		if o.holdAfter != (scheduled{}) || o.holdBefore != (scheduled{}) {
			brands = append(brands, o.brandID)
		}
	}
	if len(brands) == 0 {
		return nil
	}
	nums, err := w.brandNumbers(ctx, brands)
	if err != nil {
		return err
	}
	var ops schedOps
	for _, o := range b.orders {
		a, bf := o.holdAfter, o.holdBefore
		if a == (scheduled{}) && bf == (scheduled{}) {
			continue
		}
		n := nums[o.brandID]
		if a.hold != 0 && a.hold != bf.hold {
			bk, e := holdEntry(n, o.orderID, a.hold)
			ops.put(&ops.add, schedHolds, bk, e)
		} else if a.hold != 0 && !o.cached {
			bk, e := holdEntry(n, o.orderID, a.hold)
			ops.put(&ops.once, schedHolds, bk, e)
		}
		if bf.hold != 0 && bf.hold != a.hold {
			bk, e := holdEntry(n, o.orderID, bf.hold)
			ops.put(&ops.rem, schedHolds, bk, e)
		}
		if a.evict != 0 && (bf.evict == 0 || bucketOf(a.evict) != bucketOf(bf.evict)) {
			bk, e := evictEntry(n, o.orderID, a.evict)
			ops.put(&ops.add, schedEvict, bk, e)
		} else if a.evict != 0 && !o.cached {
			bk, e := evictEntry(n, o.orderID, a.evict)
			ops.put(&ops.once, schedEvict, bk, e)
		}
		if bf.evict != 0 && (a.evict == 0 || bucketOf(a.evict) != bucketOf(bf.evict)) {
			bk, e := evictEntry(n, o.orderID, bf.evict)
			ops.put(&ops.rem, schedEvict, bk, e)
		}
	}
	ops.send(ctx, w, pipe, b.Partition)
	return nil
}

// dueScore is a hold end as a schedule score: Unix milliseconds rounded
// up, so that a score <= now (in whole milliseconds) means the hold ended.
func dueScore(t time.Time) int64 {
	ms := t.UnixMilli()
	if t.After(time.UnixMilli(ms)) {
		ms++
	}
	return ms
}
