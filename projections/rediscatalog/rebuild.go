package rediscatalog

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/attrib-engine/attrib/eventstore"
	"github.com/attrib-engine/attrib/internal/rediskey"
	"github.com/attrib-engine/attrib/schemas"
)

// Drop deletes every key under the prefix, on every node, watermarks
// included. Stop the projection's subscribers first: a batch applied
// meanwhile would be half dropped.
func (p *Projection) Drop(ctx context.Context) error {
	n, err := rediskey.DropPrefix(ctx, p.client, p.prefix)
	if err != nil {
		return fmt.Errorf("redis catalog: drop keys under %q: %w", p.prefix, err)
	}
	p.log.Info("dropped projection", "prefix", p.prefix, "keys", n)
	return nil
}

// Rebuild drops the projection and replays the catalog topic into it from
// the beginning, up to the end the topic had when the rebuild started;
// each partition's watermark ends at that end. Events the live subscriber
// rejected (sent to its dead-letter topic) are skipped again. progress,
// when not nil, is called after every batch. Stop the projection's
// subscribers first; they resume from their committed offsets afterwards,
// which re-applies (harmlessly) what the rebuild already applied.
func Rebuild(ctx context.Context, store *eventstore.Store, p *Projection, progress func(eventstore.ReplayProgress)) error {
	// The bounds before the replay: the replay reads at least up to them,
	// so the watermarks set from them never claim an event not applied.
	bounds, err := store.Bounds(ctx, schemas.TopicCatalog)
	if err != nil {
		return fmt.Errorf("redis catalog: rebuild: %w", err)
	}
	if err := p.Drop(ctx); err != nil {
		return fmt.Errorf("redis catalog: rebuild: %w", err)
	}
	appliers := make(map[int]*applier)
	skipped := 0
	h := eventstore.HandlerFunc(func(ctx context.Context, b *eventstore.Batch) error {
		a := appliers[b.Partition]
		if a == nil {
			a = p.newApplier()
			appliers[b.Partition] = a
		}
		if err := a.Handle(ctx, b); err != nil {
			return err
		}
		for i, m := range b.Messages {
			if reason, ok := b.Rejected(i); ok {
				skipped++
				p.log.Warn("rebuild: skipped an event the live consumer dead-letters",
					"partition", b.Partition, "offset", m.Offset, "reason", reason)
			}
		}
		return nil
	})
	if err := store.Replay(ctx, schemas.TopicCatalog, h, eventstore.ReplayOptions{Progress: progress}); err != nil {
		return fmt.Errorf("redis catalog: rebuild: %w", err)
	}
	for _, b := range bounds {
		if err := p.setWatermark(ctx, b.Partition, b.End, time.Time{}); err != nil {
			return fmt.Errorf("redis catalog: rebuild: %w", err)
		}
	}
	p.log.Info("rebuilt projection", "prefix", p.prefix, "partitions", len(bounds), "skipped", skipped)
	return nil
}

// Dump returns a canonical text of every key under the prefix except the
// watermarks: keys sorted (without the prefix), each with its type and
// content (hash fields sorted, sorted-set members in score order with
// their scores, set members sorted). Two projections of the same log dump
// the same text, however their batches were cut: the rebuild test compares
// them byte for byte.
func (p *Projection) Dump(ctx context.Context) (string, error) {
	var mu sync.Mutex
	var keys []string
	err := rediskey.ForEachNode(ctx, p.client, func(ctx context.Context, c redis.Cmdable) error {
		return rediskey.ScanPrefix(ctx, c, p.prefix, func(page []string) error {
			mu.Lock()
			keys = append(keys, page...)
			mu.Unlock()
			return nil
		})
	})
	if err != nil {
		return "", fmt.Errorf("redis catalog: dump: %w", err)
	}
	keys = slices.DeleteFunc(keys, func(k string) bool { return k == p.watermarkKey() })
	slices.Sort(keys)
	keys = slices.Compact(keys) // SCAN may return a key twice

	pipe := p.client.Pipeline()
	types := make([]*redis.StatusCmd, len(keys))
	for i, k := range keys {
		types[i] = pipe.Type(ctx, k)
	}
	if err := exec(ctx, pipe); err != nil {
		return "", fmt.Errorf("redis catalog: dump: %w", err)
	}
	pipe = p.client.Pipeline()
	contents := make([]redis.Cmder, len(keys))
	for i, k := range keys {
		switch types[i].Val() {
		case "hash":
			contents[i] = pipe.HGetAll(ctx, k)
		case "zset":
			contents[i] = pipe.ZRangeWithScores(ctx, k, 0, -1)
		case "set":
			contents[i] = pipe.SMembers(ctx, k)
		case "string":
			contents[i] = pipe.Get(ctx, k)
		case "list":
			contents[i] = pipe.LRange(ctx, k, 0, -1)
		}
	}
	if err := exec(ctx, pipe); err != nil {
		return "", fmt.Errorf("redis catalog: dump: %w", err)
	}
	var b strings.Builder
	for i, k := range keys {
		typ := types[i].Val()
		if typ == "none" {
			continue // deleted meanwhile
		}
		fmt.Fprintf(&b, "%q %s\n", strings.TrimPrefix(k, p.prefix), typ)
		switch c := contents[i].(type) {
		case *redis.MapStringStringCmd:
			m := c.Val()
			fields := make([]string, 0, len(m))
			for f := range m {
				fields = append(fields, f)
			}
			slices.Sort(fields)
			for _, f := range fields {
				fmt.Fprintf(&b, "  %q = %q\n", f, m[f])
			}
		case *redis.ZSliceCmd:
			for _, z := range c.Val() {
				fmt.Fprintf(&b, "  %s %q\n", strconv.FormatFloat(z.Score, 'g', -1, 64), z.Member)
			}
		case *redis.StringSliceCmd:
			vals := c.Val()
			if typ == "set" {
				vals = slices.Sorted(slices.Values(vals))
			}
			for _, v := range vals {
				fmt.Fprintf(&b, "  %q\n", v)
			}
		case *redis.StringCmd:
			fmt.Fprintf(&b, "  %q\n", c.Val())
		default:
			fmt.Fprintf(&b, "  (%s not dumped)\n", typ)
		}
	}
	return b.String(), nil
}
