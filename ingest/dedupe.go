package ingest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"runtime"
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

// DefaultDedupeTTL is how long RedisDedupe remembers an event: longer than
// any shop keeps retrying one.
const DefaultDedupeTTL = 7 * 24 * time.Hour

// RedisDedupe is a Deduper on Redis: one key per shop event,
// "<Prefix>dedupe:<DedupeKey>", expiring after TTL. A key costs about 100
// bytes of Redis memory for TTL.
//
// Seen is one MGET of every key a pipeline checks when Client is a
// *redis.Client (one server), EXISTS per key otherwise (MGET cannot span
// the slots of a Redis Cluster or the shards of a Ring): one command costs
// Redis and this process less than one per key. Mark is SET EX per key.
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
	// TTL of a mark. Default DefaultDedupeTTL.
	TTL time.Duration

	init      sync.Once
	oneServer bool // Client is a *redis.Client: Seen can use MGET
	ops       chan *dedupeOp
	queued    atomic.Int64 // keys of the calls in ops
	workers   atomic.Int32
}

// Tuning of the shared pipelines.
const (
	dedupeWorkers   = 4    // pipelines in flight at most (see RedisDedupe)
	dedupeMaxBatch  = 256  // keys per pipeline (one call is never split)
	dedupeQueue     = 4096 // calls waiting for a worker
	dedupeIdle      = 10 * time.Second
	dedupeOpTimeout = 5 * time.Second // one pipeline, whatever the callers' contexts
)

// dedupeOp is one Seen or Mark call.
type dedupeOp struct {
	keys []string
	mark bool
	seen []bool
	err  error
	done chan struct{}
}

func (d *RedisDedupe) key(k string) string {
	p := d.Prefix
	if p == "" {
		p = DefaultDedupePrefix
	}
	return p + "dedupe:" + k
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
	d.init.Do(func() {
		d.ops = make(chan *dedupeOp, dedupeQueue)
		// MGET cannot span the slots of a Redis Cluster or the shards of
		// a Ring: only a client of one server gets it.
		_, d.oneServer = d.Client.(*redis.Client)
	})
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
	ttl := d.TTL
	if ttl <= 0 {
		ttl = DefaultDedupeTTL
	}
	ctx, cancel := context.WithTimeout(context.Background(), dedupeOpTimeout)
	defer cancel()
	pipe := d.Client.Pipeline()
	var mget *redis.SliceCmd
	if d.oneServer {
		var keys []string
		for _, op := range batch {
			if !op.mark {
				for _, k := range op.keys {
					keys = append(keys, d.key(k))
				}
			}
		}
		if len(keys) > 0 {
			mget = pipe.MGet(ctx, keys...)
		}
	}
	for _, op := range batch {
		for _, k := range op.keys {
			if op.mark {
				cmds = append(cmds, pipe.Set(ctx, d.key(k), "1", ttl))
			} else if mget == nil {
				cmds = append(cmds, pipe.Exists(ctx, d.key(k)))
			}
		}
	}
	_, err := pipe.Exec(ctx)
	var found []any
	if mget != nil {
		found = mget.Val()
		if err == nil && len(found) != len(mget.Args())-1 {
			err = fmt.Errorf("MGET answered %d values for %d keys", len(found), len(mget.Args())-1)
		}
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
		case mget != nil:
			if err == nil {
				for i, v := range found[:len(op.keys)] {
					op.seen[i] = v != nil
				}
				found = found[len(op.keys):]
			}
		default:
			if err == nil {
				for i, c := range next[:len(op.keys)] {
					op.seen[i] = c.(*redis.IntCmd).Val() > 0
				}
			}
			next = next[len(op.keys):]
		}
		close(op.done)
	}
	clear(cmds)
	return cmds[:0]
}
