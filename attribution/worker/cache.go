package worker

import (
	"github.com/attrib-engine/attrib/attribution"
	"github.com/attrib-engine/attrib/schemas"
)

// DefaultStateCache is Config.StateCache when not set.
const DefaultStateCache = 10000

// partitionState is what a partition handler keeps between its batches,
// for one group generation: the handler is the only writer of its
// partition's order states while the generation lasts, so what it wrote
// last is what Redis holds.
//
// Redis stays authoritative: a state enters the cache only after the
// batch that produced it was written to Redis, and a batch takes its
// orders' states out of the cache before changing them, so a failed batch
// (whose retry must start from what Redis holds) leaves none of its orders
// cached. The next owner of the partition starts with an empty cache.
type partitionState struct {
	cache *stateCache
	// pending holds, by order key, the rows appended to
	// attrib.attributions by a batch whose states were not written yet:
	// if the batch is retried, an order decided again at the same version
	// gets the same row, even if the code index changed in between (an
	// order decided after an index-wait timeout could otherwise be
	// emitted twice with one version and two contents).
	pending map[string]schemas.Event
	// snaps is the buffer of the orders' snapshots of a batch, free
	// between batches.
	snaps []byte
	// bounds are the partition's placed bounds (evict.go); nil without a
	// ColdStore.
	bounds *bounds
	// payloads is the buffer of the payloads of a batch's rows, free once
	// they are appended to attrib.attributions.
	payloads []byte
}

// maxKeptRecords bounds each buffer a partition keeps between batches: a
// larger one (a batch of very large events) is left to the collector.
const maxKeptRecords = 8 << 20

func newPartitionState(cacheSize int) *partitionState {
	return &partitionState{cache: newStateCache(cacheSize), pending: make(map[string]schemas.Event)}
}

// keep takes what a written batch leaves: its snapshots buffer, free
// again, and its orders' states as Redis now holds them.
func (ps *partitionState) keep(b *batch) {
	if cap(b.snaps) <= maxKeptRecords {
		ps.snaps = b.snaps
	}
	for _, o := range b.orders {
		ps.cache.put(o.key, &cachedState{st: o.st, hold: o.holdAfter})
		delete(ps.pending, o.key)
	}
}

// cachedState is an order's state as written to Redis, with its hold
// schedule entry.
type cachedState struct {
	st   attribution.OrderState
	hold scheduled
}

// stateCache keeps up to size order states by key (2 when size is 1),
// dropping the least recently used half at a time: two maps, the newer
// taking every state put, the older dropped whole when the newer is full.
type stateCache struct {
	half     int
	cur, old map[string]*cachedState
}

func newStateCache(size int) *stateCache {
	if size <= 0 {
		return nil
	}
	half := max(size/2, 1)
	return &stateCache{half: half, cur: make(map[string]*cachedState), old: make(map[string]*cachedState)}
}

// take removes and returns the state of key, if cached.
func (c *stateCache) take(key string) (*cachedState, bool) {
	if c == nil {
		return nil, false
	}
	if s, ok := c.cur[key]; ok {
		delete(c.cur, key)
		return s, true
	}
	if s, ok := c.old[key]; ok {
		delete(c.old, key)
		return s, true
	}
	return nil, false
}

// put caches the state of key.
func (c *stateCache) put(key string, s *cachedState) {
	if c == nil {
		return
	}
	delete(c.old, key)
	if _, ok := c.cur[key]; !ok && len(c.cur) >= c.half {
		c.old, c.cur = c.cur, make(map[string]*cachedState, c.half)
	}
	c.cur[key] = s
}

// len returns how many states are cached.
func (c *stateCache) len() int {
	if c == nil {
		return 0
	}
	return len(c.cur) + len(c.old)
}
