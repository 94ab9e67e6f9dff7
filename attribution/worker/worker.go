package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/attrib-engine/attrib/attribution"
	"github.com/attrib-engine/attrib/eventstore"
	"github.com/attrib-engine/attrib/internal/rediskey"
	"github.com/attrib-engine/attrib/schemas"
)

// Group is the consumer group of the worker on attrib.orders. Renaming it
// starts a new group that reads the whole topic again: every event is then
// a duplicate of the stored order states and nothing is emitted twice, but
// it takes as long as a rebuild.
const Group = "attrib-attribution"

// DefaultPrefix starts the worker's Redis keys when Config.Prefix is empty.
// It is not under the projections' prefix ("attrib:"): the worker's state
// is not a projection the catalog rebuild may drop (see Worker.Rebuild).
const DefaultPrefix = "attrib-worker:"

// Defaults of Config.
const (
	// DefaultIndexWait is Config.IndexWait when not set.
	DefaultIndexWait = 30 * time.Second
	// DefaultHoldTick is Config.HoldTick when not set.
	DefaultHoldTick = time.Second
	// DefaultEvictInterval is Config.EvictInterval when not set: a
	// partition's evictions of a minute go to ClickHouse as one insert.
	DefaultEvictInterval = time.Minute
)

// Index is what the worker reads of the code and offer index (the
// catalog's Redis projection, adapted in cmd/attrib). Each method is
// expected to take one round trip whatever the number of keys.
type Index interface {
	// LookupCodes returns the code records of every (brand, normalised
	// text) key; a key without records has no entry.
	LookupCodes(ctx context.Context, keys []attribution.CodeKey) (attribution.CodeMap, error)
	// LookupOffers returns the offers with their terms history; an offer
	// not in the index (yet) has no entry.
	LookupOffers(ctx context.Context, keys []attribution.OfferKey) (attribution.OfferMap, error)
	// Watermarks says how far the index has applied each partition of the
	// catalog topic.
	Watermarks(ctx context.Context) (map[int]Watermark, error)
}

// Watermark tells how far the index has applied one partition of the
// catalog topic. Watermarks only move forward.
type Watermark struct {
	// Offset is the next offset to apply: every event before it is in the
	// index (0: nothing applied).
	Offset int64
	// OccurredAt is the latest occurred_at among the events applied (zero:
	// none).
	OccurredAt time.Time
}

// Config configures a Worker. The zero value of every optional field is a
// default that works on one machine.
type Config struct {
	// Store is the event log: attrib.orders is read, attrib.attributions
	// and order.hold_expired events are written, attrib.catalog's bounds
	// are read for lag safety. Required.
	Store *eventstore.Store
	// Redis keeps the worker's state (see the package documentation). A
	// single node, Sentinel or Cluster client; replica reads must be off.
	// Required.
	Redis redis.UniversalClient
	// Prefix starts every key of the worker; Drop and Rebuild delete
	// everything under it. It must not be the prefix of another
	// component's keys. Default DefaultPrefix.
	Prefix string
	// Index is the code and offer index. Required.
	Index Index
	// Now is the clock of the hold expiry and of the rows' recorded_at.
	// Default time.Now.
	Now func() time.Time
	// IndexWait bounds how long a batch waits for the code index to catch
	// up with the placed time of an order it decides for the first time
	// (and for a winning code's offer to appear). Default DefaultIndexWait.
	IndexWait time.Duration
	// HoldTick is how often each partition handler looks for holds that
	// ended. Default DefaultHoldTick.
	HoldTick time.Duration
	// EvictInterval is how often each partition handler moves its settled
	// orders whose retention ended to the cold store (with a Cold store
	// only). Each step is one insert per evictBatch states, and ClickHouse
	// wants few, large inserts, so it is kept well above HoldTick. Default
	// DefaultEvictInterval.
	EvictInterval time.Duration
	// StateCache is how many order states each partition handler keeps in
	// memory between its batches, so that an order's next events need not
	// read its state back from Redis (which stays authoritative: every
	// batch still writes it). About 2 KiB each. Default DefaultStateCache;
	// negative: none.
	StateCache int
	// Cold keeps the states of the orders evicted from Redis (see
	// "Retention" in evict.go). Nil: no order leaves Redis. Once a worker
	// has evicted with a ColdStore, it must keep one (the same): an order
	// it evicted would otherwise be taken for a new one.
	Cold ColdStore
	// Retention is how long a settled order's state stays in Redis after
	// its last event (with Cold). Default DefaultRetention.
	Retention time.Duration
	// Logger; default slog.Default().
	Logger *slog.Logger
	// Registerer receives the worker's metrics; nil: kept but not
	// registered anywhere.
	Registerer prometheus.Registerer
}

// Validate checks the required fields and fills in defaults.
func (c *Config) Validate() error {
	switch {
	case c.Store == nil:
		return errors.New("attribution worker: no event store")
	case c.Redis == nil:
		return errors.New("attribution worker: no redis client")
	case c.Index == nil:
		return errors.New("attribution worker: no code index")
	}
	if c.Prefix == "" {
		c.Prefix = DefaultPrefix
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.IndexWait <= 0 {
		c.IndexWait = DefaultIndexWait
	}
	if c.HoldTick <= 0 {
		c.HoldTick = DefaultHoldTick
	}
	if c.EvictInterval <= 0 {
		c.EvictInterval = DefaultEvictInterval
	}
	if c.StateCache == 0 {
		c.StateCache = DefaultStateCache
	}
	if c.Retention <= 0 {
		c.Retention = DefaultRetention
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return nil
}

// Worker attributes orders: it consumes attrib.orders in Group, keeps each
// order's state in Redis, decides with the pure attribution core and
// appends the rows to attrib.attributions; each partition handler also
// emits the order.hold_expired events of its partition's orders. It is
// safe for concurrent use by the handlers of several partitions.
type Worker struct {
	store  *eventstore.Store
	rdb    redis.UniversalClient
	index  Index
	prefix string
	now    func() time.Time
	wait   time.Duration
	tick   time.Duration
	// evictEvery is Config.EvictInterval.
	evictEvery time.Duration
	// cacheSize is Config.StateCache.
	cacheSize int
	cold      ColdStore
	retention time.Duration
	// brands caches the brands' numbers of the schedules (schedule.go).
	brands brandDict
	// scriptsReady: the Lua scripts are loaded in Redis (loadScripts).
	scriptsReady atomic.Bool
	log          *slog.Logger
	m            *metrics

	// lag holds what the index's catalog watermarks and the catalog
	// topic's bounds were last seen to be, shared by the handlers.
	lag lagTracker
	// codes caches the code index's answers (codeCache).
	codes *codeCache

	mu    sync.Mutex
	parts map[string]int // partition counts of topics, once known
}

// New validates cfg and returns a Worker.
func New(cfg Config) (*Worker, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	w := &Worker{
		store:      cfg.Store,
		rdb:        cfg.Redis,
		index:      cfg.Index,
		prefix:     cfg.Prefix,
		now:        cfg.Now,
		wait:       cfg.IndexWait,
		tick:       cfg.HoldTick,
		evictEvery: cfg.EvictInterval,
		cacheSize:  cfg.StateCache,
		cold:       cfg.Cold,
		retention:  cfg.Retention,
		log:        cfg.Logger.With("component", "attribution-worker"),
		m:          newMetrics(cfg.Registerer),
		parts:      make(map[string]int),
		codes:      newCodeCache(maxCachedCodes),
	}
	w.lag.init()
	return w, nil
}

// Prefix returns the key prefix of the worker's state.
func (w *Worker) Prefix() string { return w.prefix }

// MaxBatch is the MaxBatch of SubscriberConfig: a batch's round trips
// (Redis, the catalog's bounds, the rows' appends, the commit) cost about
// the same for 1,000 events as for 2,000, so bigger batches spend ~10%
// less CPU per event; a batch of 2,000 still takes well under a second.
const MaxBatch = 2000

// SubscriberConfig returns the subscriber configuration that runs the
// worker: Group on schemas.TopicOrders with Handler, batches of up to
// MaxBatch. The caller may tune the other fields. Its DrainTimeout, which
// bounds a batch's handling, is IndexWait + 30 s: a batch may wait that
// long for the code index.
func (w *Worker) SubscriberConfig() eventstore.SubscriberConfig {
	return eventstore.SubscriberConfig{
		Group:        Group,
		Topics:       []string{schemas.TopicOrders},
		Handler:      w.Handler(),
		MaxBatch:     MaxBatch,
		Logger:       w.log,
		DrainTimeout: w.wait + 30*time.Second,
	}
}

// Handler returns the handler factory of the worker's subscriber. Each
// partition handler emits the due holds of its partition every HoldTick
// until the subscriber closes it at the end of its group generation.
func (w *Worker) Handler() eventstore.HandlerFactory {
	return func(ctx context.Context, a eventstore.Assignment) (eventstore.PartitionHandler, error) {
		applied, err := w.appliedOffset(ctx, a.Partition)
		if err != nil {
			return nil, err
		}
		if err := w.loadScripts(ctx); err != nil {
			return nil, err
		}
		if err := w.migrateSchedules(ctx, a.Partition); err != nil {
			return nil, err
		}
		var bd *bounds
		if w.cold != nil {
			if bd, err = w.readBounds(ctx, a.Partition); err != nil {
				return nil, err
			}
		}
		h := w.newPartitionHandler(ctx, a.Partition, bd)
		h.applied = applied
		return h, nil
	}
}

// partitions returns the partition count of topic, asked once.
func (w *Worker) partitions(ctx context.Context, topic string) (int, error) {
	w.mu.Lock()
	n, ok := w.parts[topic]
	w.mu.Unlock()
	if ok {
		return n, nil
	}
	n, err := w.store.Partitions(ctx, topic)
	if err != nil {
		return 0, err
	}
	if n <= 0 {
		return 0, fmt.Errorf("topic %s has no partitions", topic)
	}
	w.mu.Lock()
	w.parts[topic] = n
	w.mu.Unlock()
	return n, nil
}

// Key names. Ids inside keys are escaped with rediskey.Seg.
const (
	kOrder = "order:"
	// kHolds is the hold schedule of a partition in its former form, a
	// sorted set (migrateSchedules).
	kHolds = "holds:"
	// kApplied is the applied offset of a partition of attrib.orders: the
	// next offset after the last batch whose states were written.
	kApplied = "applied:"
	// kEvict is the eviction schedule of a partition in its former form,
	// a sorted set (migrateSchedules).
	kEvict = "evict:"
	// kEvicted holds the placed bounds of a partition's brands (evict.go).
	kEvicted = "evicted:"
	// fEvent prefixes the field of an applied order event: e:<offset, 20
	// digits>, so that fields sort in log order.
	fEvent = "e:"
	// fRow is the field of the last emitted attribution row.
	fRow = "row"
)

func (w *Worker) orderKey(brandID, orderID string) string {
	return w.prefix + kOrder + rediskey.Seg(brandID) + ":" + rediskey.Seg(orderID)
}

func (w *Worker) appliedKey(partition int) string {
	return w.prefix + kApplied + strconv.Itoa(partition)
}

func (w *Worker) evictKey(partition int) string {
	return w.prefix + kEvict + strconv.Itoa(partition)
}

func (w *Worker) evictedKey(partition int) string {
	return w.prefix + kEvicted + strconv.Itoa(partition)
}

func (w *Worker) holdsKey(partition int) string {
	return w.prefix + kHolds + strconv.Itoa(partition)
}

// eventField is fmt.Sprintf("%s%020d", fEvent, offset), without fmt (it
// runs for every event applied).
func eventField(offset int64) string {
	if offset < 0 {
		return fmt.Sprintf("%s%020d", fEvent, offset) // never: offsets are not negative
	}
	var b [len(fEvent) + 20]byte
	copy(b[:], fEvent)
	digits := strconv.AppendInt(b[len(fEvent):len(fEvent)], offset, 10)
	pad := 20 - len(digits)
	copy(b[len(fEvent)+pad:], digits)
	for i := len(fEvent); i < len(fEvent)+pad; i++ {
		b[i] = '0'
	}
	return string(b[:])
}
