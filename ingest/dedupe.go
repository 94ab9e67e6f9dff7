package ingest

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// Deduper remembers which shop events were already appended. Keys are
// DedupeKey values. Seen answers for each key whether it was marked; Mark
// marks keys, after their events are durable in the log.
type Deduper interface {
	Seen(ctx context.Context, keys []string) ([]bool, error)
	Mark(ctx context.Context, keys []string) error
}

// DedupeKey is the dedupe key of a shop event: "<brand>:<event id>", or
// "#" and the hex SHA-256 of "<brand>\x00<event id>" when that would be long
// (over 128 bytes) or ambiguous (a brand id with ':'). The two forms cannot
// collide: only the first has a ':'.
func DedupeKey(brandID, shopEventID string) string {
	if len(brandID)+len(shopEventID) <= 128 && !strings.Contains(brandID, ":") {
		return brandID + ":" + shopEventID
	}
	sum := sha256.Sum256([]byte(brandID + "\x00" + shopEventID))
	return "#" + hex.EncodeToString(sum[:])
}

// DefaultDedupePrefix is RedisDedupe's default key prefix. It is not under
// the catalog projection's prefix ("attrib:"): a rebuild of the projections
// drops everything under theirs, and the dedupe keys are not a projection
// of the log.
const DefaultDedupePrefix = "attrib-ingest:"

// DefaultDedupeTTL is RedisDedupe's default window: longer than any shop
// keeps retrying one event.
const DefaultDedupeTTL = 7 * 24 * time.Hour

// DefaultDedupeBuckets is RedisDedupe's default number of hashes per
// window. Redis keeps a hash of up to hash-max-listpack-entries fields (128
// by default) as one compact listpack, and a larger one as a table at about
// three times the bytes per field, so a window of up to 4096 * 128 =
// 524,288 events stays compact, while a quieter one pays the hash's own
// hundred-odd bytes over fewer marks.
const DefaultDedupeBuckets = 4096

// RedisDedupe is a Deduper on Redis. Time is cut into periods of one TTL
// (the window); a mark is a 12-byte field of a hash of its period,
// "<Prefix>seen:<period>:<bucket>", where the bucket and the field are
// bits of the SHA-256 of the key; each hash expires at the end of the
// period after its own. Seen looks a key up in the hashes of the current
// and the previous period, so a key marked at t is seen until at least
// t+TTL and forgotten by t+2*TTL at the latest.
//
// A mark costs about 20 bytes in a listpack hash of a hundred marks (see
// DefaultDedupeBuckets), against about 120 bytes for a key of its own. Two
// keys are taken for one only when the 96 bits of their field and their
// bucket are the same: for n keys in one window, a chance of about
// n*n/2^97 (1e-13 for a hundred million).
//
// After the window, a re-sent event is appended again, with the same
// event id (EventID derives it from the brand and the shop's id); the
// attribution worker drops it, since the order's state remembers the event
// ids and shop_event_ids it applied, so counts stay exact (package
// attribution; TestDuplicateCountedOnceInsideAndAfterTheDedupeWindow and,
// for an order evicted from Redis, TestDuplicateOfAnEvictedOrderCountedOnce
// in cmd/attrib).
//
// Seen is two HEXISTS per key, Mark an HSET per key, so that every
// command touches one key (a Redis Cluster or Ring takes them as they
// are). A hash's expiry is set by the first mark in it that this process
// makes in a period, and again at most once per dedupeExpiryRefresh: a
// hash that lost its expiry (Redis lost its data and the hash was made
// again) gets it back within that time instead of living for good.
//
// The window follows Now, not Redis's clock: when a process first sees
// period n begin (by Now), it deletes the hashes of periods n-2 down to
// n-1-dedupeDropPeriods (UNLINK, a key per command, in a pipeline of its
// own before the calls' one), whose marks no Seen reads any more. An
// engine on a simulated or replayed clock (`attrib loadgen retention`)
// thus keeps at most three periods of marks, where Redis's expiry, on the
// real clock, would keep every simulated period; the expiry stays as the
// safety net for periods no process saw begin. A failed drop is tried
// again at the next pipeline after dedupeExpiryRefresh.
//
// Concurrent calls share pipelines: a worker (started on demand, gone
// after 10 s idle) sends whatever calls are waiting as one pipeline, waits
// for its answers, and sends the calls that came meanwhile as the next
// one, so under load a request costs a fraction of a round trip instead of
// two; a lone call is sent at once, once the goroutines ready to run have
// had their turn.
//
// One pipeline in flight, not several, while the calls waiting fit in one
// (256 keys): a round trip costs Redis (and this process) far more than a
// command does, and the calls that arrive during one are the next batch,
// so workers taking turns would only send more, smaller pipelines for the
// same work. Only a backlog of more keys than a pipeline takes (webhook
// batches) adds workers, up to four, so that large calls go out as several
// pipelines at once rather than one long one; they leave when the backlog
// is gone.
//
// A pipeline that fails fails every call in it. The zero value (with
// Client set) is ready; it is safe for concurrent use and must not be
// copied after first use.
type RedisDedupe struct {
	// Client is the Redis client. Required.
	Client redis.UniversalClient
	// Prefix of every key. Default DefaultDedupePrefix.
	Prefix string
	// TTL is the window: a mark is seen for at least TTL and at most twice
	// that. Default DefaultDedupeTTL. Changing it starts new periods, so
	// the marks of the old ones are not seen any more.
	TTL time.Duration
	// Buckets is the number of hashes per period: about the events of a
	// window divided by 100 keeps them compact. Default
	// DefaultDedupeBuckets; at most 65536. Changing it forgets the marks
	// made before.
	Buckets int
	// Now is the clock of the periods. Default time.Now.
	Now func() time.Time

	init    sync.Once
	expiry  expiryMemo
	dropped dropMemo
	ops     chan *dedupeOp
	queued  atomic.Int64 // keys of the calls in ops
	workers atomic.Int32
}

// Tuning of the shared pipelines.
const (
	dedupeWorkers   = 4    // pipelines in flight at most (see RedisDedupe)
	dedupeMaxBatch  = 256  // keys per pipeline (one call is never split)
	dedupeQueue     = 4096 // calls waiting for a worker
	dedupeIdle      = 10 * time.Second
	dedupeOpTimeout = 5 * time.Second // one pipeline, whatever the callers' contexts
	// dedupeExpiryRefresh is how often a process sets a hash's expiry
	// again: how long a hash made again without one (after Redis lost its
	// data) can go without.
	dedupeExpiryRefresh = time.Minute
	// dedupeDropPeriods is how many periods before the window a process
	// deletes when it sees a period begin: the two the window just left
	// and those a clock that jumped ahead skipped, up to this many (older
	// ones are left to their expiry).
	dedupeDropPeriods = 4
)

// dropMemo remembers up to which period this process deleted the hashes
// that fell out of the window, and when it last failed to.
type dropMemo struct {
	mu      sync.Mutex
	through int64 // periods <= through are deleted; valid when known
	known   bool
	busy    bool // a worker is deleting: the others need not
	failed  time.Time
}

// due returns the periods [from, to] to delete now that period n is the
// current one; ok is false when there are none, another worker is deleting,
// or a failed attempt is too recent to try again. After ok, the caller
// must call done.
func (m *dropMemo) due(n int64, now time.Time) (from, to int64, ok bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.busy {
		return 0, 0, false
	}
	to = n - 2
	from = n - 1 - dedupeDropPeriods
	if m.known {
		if m.through >= to {
			return 0, 0, false
		}
		from = max(from, m.through+1)
	}
	if !m.failed.IsZero() && now.Sub(m.failed) < dedupeExpiryRefresh && !now.Before(m.failed) {
		return 0, 0, false
	}
	m.busy = true
	return from, to, true
}

// done records the outcome of deleting the periods up to to.
func (m *dropMemo) done(to int64, err error, now time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.busy = false
	if err != nil {
		m.failed = now
		return
	}
	m.failed = time.Time{}
	if !m.known || to > m.through {
		m.through, m.known = to, true
	}
}

// expiryMemo remembers the buckets whose hash this process has given its
// expiry in the current period, so that a mark costs one command, not
// two.
type expiryMemo struct {
	mu     sync.Mutex
	period string // the current period's key prefix
	since  time.Time
	set    []uint64 // a bit per bucket
}

// claim reports whether the caller must set the expiry of bucket b of
// period: true once per bucket, period and dedupeExpiryRefresh.
func (m *expiryMemo) claim(period string, b int, now time.Time) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if period != m.period || now.Sub(m.since) >= dedupeExpiryRefresh || now.Before(m.since) {
		m.period, m.since = period, now
		clear(m.set)
	}
	w := b / 64
	if w >= len(m.set) {
		m.set = append(m.set, make([]uint64, w+1-len(m.set))...)
	}
	if m.set[w]&(1<<(b%64)) != 0 {
		return false
	}
	m.set[w] |= 1 << (b % 64)
	return true
}

// forget makes every bucket's expiry be set again: after a failed
// pipeline, whose PEXPIREs may not have run.
func (m *expiryMemo) forget() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.period = ""
}

// dedupeOp is one Seen or Mark call.
type dedupeOp struct {
	keys []string
	mark bool
	seen []bool
	err  error
	done chan struct{}
}

// slot is where a key's mark lives: its bucket and its field, the same in
// every period.
type slot struct {
	index  int
	bucket string
	field  string
}

func (d *RedisDedupe) slotOf(k string) slot {
	sum := sha256.Sum256([]byte(k))
	b := int(binary.BigEndian.Uint16(sum[:2])) % d.buckets()
	return slot{index: b, bucket: strconv.Itoa(b), field: string(sum[2:14])}
}

// periods returns the number n of the current period, the key prefixes
// of the current and the previous period ("<Prefix>seen:<n>:"), and how
// long from now the current one's hashes must live: to the end of the
// next period.
func (d *RedisDedupe) periods() (n int64, cur, prev string, ttl time.Duration, at time.Time) {
	now := time.Now
	if d.Now != nil {
		now = d.Now
	}
	at = now()
	t := at.UnixNano()
	w := int64(d.window())
	n = t / w
	cur, prev = d.periodPrefix(n), d.periodPrefix(n-1)
	return n, cur, prev, time.Duration((n+2)*w - t), at
}

// window returns TTL or its default.
func (d *RedisDedupe) window() time.Duration {
	if d.TTL <= 0 {
		return DefaultDedupeTTL
	}
	return d.TTL
}

// periodPrefix returns the key prefix of period n's hashes.
func (d *RedisDedupe) periodPrefix(n int64) string {
	p := d.Prefix
	if p == "" {
		p = DefaultDedupePrefix
	}
	return p + "seen:" + strconv.FormatInt(n, 10) + ":"
}

// buckets returns Buckets or its default.
func (d *RedisDedupe) buckets() int {
	if d.Buckets <= 0 || d.Buckets > 1<<16 {
		return DefaultDedupeBuckets
	}
	return d.Buckets
}

// dropOld deletes the hashes of the periods that fell out of the window
// now that period n is the current one, once per period and process (see
// RedisDedupe).
func (d *RedisDedupe) dropOld(ctx context.Context, n int64, now time.Time) {
	from, to, ok := d.dropped.due(n, now)
	if !ok {
		return
	}
	nb := d.buckets()
	pipe := d.Client.Pipeline()
	for p := from; p <= to; p++ {
		prefix := d.periodPrefix(p)
		for b := 0; b < nb; b++ {
			pipe.Unlink(ctx, prefix+strconv.Itoa(b))
		}
	}
	_, err := pipe.Exec(ctx)
	d.dropped.done(to, err, now)
}

// Seen reports for each key whether it was marked.
func (d *RedisDedupe) Seen(ctx context.Context, keys []string) ([]bool, error) {
	if len(keys) == 0 {
		return []bool{}, nil
	}
	op := &dedupeOp{keys: keys, seen: make([]bool, len(keys))}
	if err := d.submit(ctx, op); err != nil {
		return nil, fmt.Errorf("redis dedupe: check %d keys: %w", len(keys), err)
	}
	return op.seen, nil
}

// Mark marks keys as seen for TTL.
func (d *RedisDedupe) Mark(ctx context.Context, keys []string) error {
	if len(keys) == 0 {
		return nil
	}
	if err := d.submit(ctx, &dedupeOp{keys: keys, mark: true}); err != nil {
		return fmt.Errorf("redis dedupe: mark %d keys: %w", len(keys), err)
	}
	return nil
}

// submit hands op to a worker and waits for it. A caller whose ctx ends
// stops waiting; its op still runs.
func (d *RedisDedupe) submit(ctx context.Context, op *dedupeOp) error {
	if d.Client == nil {
		return errors.New("no client")
	}
	d.init.Do(func() { d.ops = make(chan *dedupeOp, dedupeQueue) })
	op.done = make(chan struct{})
	d.queued.Add(int64(len(op.keys)))
	d.scale()
	select {
	case d.ops <- op:
	case <-ctx.Done():
		d.queued.Add(-int64(len(op.keys)))
		return ctx.Err()
	}
	// A worker that left between scale and the send would leave op
	// waiting: workers re-check the queue after they leave, and this
	// checks after the send, so one of the two sees the other.
	if d.workers.Load() == 0 {
		d.scale()
	}
	select {
	case <-op.done:
		return op.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// scale starts a worker when none runs, and another one, up to
// dedupeWorkers, when more keys wait than a pipeline takes: large calls
// (webhook batches) then go out as several pipelines at once instead of
// one long one, while small calls keep sharing one.
func (d *RedisDedupe) scale() {
	for {
		n := d.workers.Load()
		if n >= dedupeWorkers || (n > 0 && d.queued.Load() <= dedupeMaxBatch) {
			return
		}
		if d.workers.CompareAndSwap(n, n+1) {
			go d.work()
			return
		}
	}
}

// retire reports whether a worker that has just sent a pipeline should
// leave: one that scale added for a backlog leaves once the backlog is
// gone, so that small calls go back to sharing one pipeline. The last
// worker stays until it has been idle for dedupeIdle.
func (d *RedisDedupe) retire() bool {
	for {
		n := d.workers.Load()
		if n <= 1 || d.queued.Load() > dedupeMaxBatch {
			return false
		}
		if d.workers.CompareAndSwap(n, n-1) {
			return true
		}
	}
}

// work sends the waiting calls as pipelines until it has been idle for
// dedupeIdle, or retire says so.
func (d *RedisDedupe) work() {
	idle := time.NewTimer(dedupeIdle)
	defer idle.Stop()
	var batch []*dedupeOp
	var cmds []redis.Cmder
	for {
		select {
		case op := <-d.ops:
			// Let the goroutines that are ready run first: under load they
			// are requests about to call too, and join this pipeline
			// instead of waiting for the next (on two cores this doubled
			// the calls a pipeline carries); idle, it returns at once.
			runtime.Gosched()
			batch = append(batch[:0], op)
			n := len(op.keys)
		more:
			for n < dedupeMaxBatch {
				select {
				case op := <-d.ops:
					batch = append(batch, op)
					n += len(op.keys)
				default:
					break more
				}
			}
			d.queued.Add(-int64(n))
			cmds = d.exec(batch, cmds)
			clear(batch)
			if d.retire() {
				return
			}
			idle.Reset(dedupeIdle)
		case <-idle.C:
			d.workers.Add(-1)
			if len(d.ops) > 0 {
				d.scale()
			}
			return
		}
	}
}

// exec sends a batch of calls as one pipeline and completes them. cmds is
// the worker's slice for the pipeline's commands, returned for reuse.
func (d *RedisDedupe) exec(batch []*dedupeOp, cmds []redis.Cmder) []redis.Cmder {
	n, cur, prev, ttl, now := d.periods()
	ctx, cancel := context.WithTimeout(context.Background(), dedupeOpTimeout)
	defer cancel()
	d.dropOld(ctx, n, now)
	pipe := d.Client.Pipeline()
	expires := 0 // PEXPIREs after the marks' HSETs, not among them
	for _, op := range batch {
		for _, k := range op.keys {
			s := d.slotOf(k)
			if op.mark {
				cmds = append(cmds, pipe.HSet(ctx, cur+s.bucket, s.field, ""))
				if d.expiry.claim(cur, s.index, now) {
					pipe.PExpire(ctx, cur+s.bucket, ttl)
					expires++
				}
			} else {
				cmds = append(cmds, pipe.HExists(ctx, cur+s.bucket, s.field), pipe.HExists(ctx, prev+s.bucket, s.field))
			}
		}
	}
	_, err := pipe.Exec(ctx)
	if err != nil && expires > 0 {
		d.expiry.forget()
	}
	next := cmds
	for _, op := range batch {
		// Conservative: after a failed pipeline no answer in it is
		// trusted (a "not seen" from a half-failed pipeline would append
		// a duplicate; a retry costs only latency).
		op.err = err
		switch {
		case op.mark:
			next = next[len(op.keys):]
		default:
			if err == nil {
				for i := range op.keys {
					op.seen[i] = next[2*i].(*redis.BoolCmd).Val() || next[2*i+1].(*redis.BoolCmd).Val()
				}
			}
			next = next[2*len(op.keys):]
		}
		close(op.done)
	}
	clear(cmds)
	return cmds[:0]
}
