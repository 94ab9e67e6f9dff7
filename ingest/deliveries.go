package ingest

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/attrib-engine/attrib/internal/rediskey"
)

// Outcomes of a shop platform's delivery, as a connector's last delivery
// shows them.
const (
	// DeliveryAccepted: new events were recorded.
	DeliveryAccepted = "accepted"
	// DeliveryDuplicate: everything in it was recorded before, or it
	// records nothing (a topic or status the engine does not use).
	DeliveryDuplicate = "duplicate"
	// DeliveryError: refused as not an order (400), or not recorded (503).
	DeliveryError = "error"
	// DeliveryTest: the platform's test notification.
	DeliveryTest = "test"
)

// Delivery is one signed delivery of a shop platform's webhook.
type Delivery struct {
	At      time.Time `json:"at"`
	Topic   string    `json:"topic"`
	Outcome string    `json:"outcome"`
}

// DeliveryLog keeps the last delivery of each brand's connector. Record
// must not block the request: it may keep the delivery and write it
// later, and a failure only costs what the brand sees of it.
type DeliveryLog interface {
	Record(brandID, platform string, d Delivery)
}

// RedisDeliveries is a DeliveryLog on Redis: one hash per brand,
// "<Prefix>deliveries:<brand>", one field per platform, the JSON of its
// last delivery. Record keeps deliveries in memory and a background
// writer sends them, the latest of each connector, as one pipeline every
// flushEvery (started on demand, gone when there is nothing to write), so
// a delivery costs the webhook no round trip. A delivery recorded at the
// same time by two processes may land in either order. The zero value
// (with Client set) is ready; it is safe for concurrent use.
type RedisDeliveries struct {
	// Client is the Redis client. Required.
	Client redis.UniversalClient
	// Prefix of every key. Default DefaultDedupePrefix.
	Prefix string
	// Logger receives write failures. Default slog.Default().
	Logger *slog.Logger

	mu      sync.Mutex
	pending map[[2]string]Delivery
	running bool
}

// flushEvery is how long a delivery waits to be written: short enough
// that the brand's screen shows it at once, long enough that a burst of
// deliveries is one pipeline.
const flushEvery = 100 * time.Millisecond

func (r *RedisDeliveries) key(brandID string) string {
	p := r.Prefix
	if p == "" {
		p = DefaultDedupePrefix
	}
	return p + "deliveries:" + rediskey.Seg(brandID)
}

// Record keeps d as the last delivery of the brand's connector of
// platform, to be written within flushEvery.
func (r *RedisDeliveries) Record(brandID, platform string, d Delivery) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.pending == nil {
		r.pending = make(map[[2]string]Delivery)
	}
	k := [2]string{brandID, platform}
	if cur, ok := r.pending[k]; !ok || !d.At.Before(cur.At) {
		r.pending[k] = d
	}
	if !r.running {
		r.running = true
		go r.flushLoop()
	}
}

// flushLoop writes the pending deliveries until there are none.
func (r *RedisDeliveries) flushLoop() {
	for {
		time.Sleep(flushEvery)
		r.mu.Lock()
		batch := r.pending
		r.pending = nil
		if len(batch) == 0 {
			r.running = false
			r.mu.Unlock()
			return
		}
		r.mu.Unlock()
		if err := r.write(batch); err != nil {
			log := r.Logger
			if log == nil {
				log = slog.Default()
			}
			log.Warn("connectors: last deliveries not written", "deliveries", len(batch), "err", err)
		}
	}
}

func (r *RedisDeliveries) write(batch map[[2]string]Delivery) error {
	ctx, cancel := context.WithTimeout(context.Background(), dedupeOpTimeout)
	defer cancel()
	pipe := r.Client.Pipeline()
	for k, d := range batch {
		v, err := json.Marshal(d)
		if err != nil {
			return err
		}
		pipe.HSet(ctx, r.key(k[0]), k[1], v)
	}
	_, err := pipe.Exec(ctx)
	return err
}

// Flush writes the pending deliveries now (tests, shutdown).
func (r *RedisDeliveries) Flush() error {
	r.mu.Lock()
	batch := r.pending
	r.pending = nil
	r.mu.Unlock()
	if len(batch) == 0 {
		return nil
	}
	return r.write(batch)
}

// LastDeliveries returns the last delivery of each of a brand's
// connectors, by platform, as written so far. One round trip.
func (r *RedisDeliveries) LastDeliveries(ctx context.Context, brandID string) (map[string]Delivery, error) {
	f, err := r.Client.HGetAll(ctx, r.key(brandID)).Result()
	if err != nil {
		return nil, fmt.Errorf("last deliveries of %s: %w", brandID, err)
	}
	out := make(map[string]Delivery, len(f))
	for platform, v := range f {
		var d Delivery
		if err := json.Unmarshal([]byte(v), &d); err != nil {
			return nil, fmt.Errorf("last delivery of %s on %s: %w", brandID, platform, err)
		}
		out[platform] = d
	}
	return out, nil
}
