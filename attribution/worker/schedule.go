package worker

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/attrib-engine/attrib/schemas"
)

// # Schedules
//
// Each partition of attrib.orders has two schedules, the holds (orders
// whose hold ends at a known time) and the evictions (settled orders,
// with a ColdStore). An order is in at most one of them at a time: an
// order under hold is pending, so not settled. A schedule is a set of
// buckets, one per hour of due time:
//
//	hq:{<partition>}           zset    member a bucket (hours since the Unix epoch), score its start (Unix ms)
//	hq:{<partition>}:<bucket>  list    an entry per order whose hold ends in the bucket's hour
//	eq:{<partition>}           zset    the same for the evictions
//	eq:{<partition>}:<bucket>  list    an entry per settled order whose retention ends in the bucket's hour
//	brands                     hash    field b<brand> value its number, field n<number> value the brand; next: the last number
//
// An entry names its order in a few bytes: its brand's number (uvarint,
// times two, plus one if the order id is numeric), then the order id as a
// big-endian number without leading zero bytes (an id of up to 19 digits
// with no leading zero) or as its text; a hold's entry starts with the
// second of the bucket's hour its hold ends in (uint16, big endian). The
// entry of a Shopify order (a 13-digit id) of one of the first 63 brands
// takes 7 bytes, 9 with the hold's second; a list packs its entries with
// 2 bytes of overhead each, where a sorted set member costs 60 to 70.
// A write adds an order's entry to a bucket it was not in with RPUSH, and
// an entry it may be in already (its state read back from Redis with the
// same place) only if absent from the bucket's tail, so that a retried
// write adds no copy; it takes an entry out by its last copy. No write
// scans a whole bucket, which at a high rate holds millions of entries
// (every order placed in an hour has its hold end in one bucket). A copy
// left by a write retried otherwise, or further up than the tail, is
// harmless: the readers look at the state, drop an entry that is stale,
// and remove every copy of an entry.
// Buckets of an hour keep the number of keys at 24 a day per partition
// and schedule, and an entry carries no more than it must: the emitter
// and the evictor read the order's state before acting on an entry, so
// an entry is a pointer, never trusted on its own.
//
// A partition's buckets and their index share a hash slot ({partition}),
// so that the scripts that change them run on one node of a Redis
// Cluster. The brands' numbers are assigned by a script on the one
// brands hash, cached by each worker for its life and never reassigned
// (Drop removes them with everything else, and Rebuild assigns them
// again, so the live workers must be stopped during a rebuild, as they
// must be anyway).

// bucketMS is the width of a schedule bucket: an hour, in milliseconds.
const bucketMS = int64(time.Hour / time.Millisecond)

// bucketOf is the bucket of a due time (Unix ms).
func bucketOf(ms int64) int64 {
	if ms < 0 {
		return (ms - bucketMS + 1) / bucketMS
	}
	return ms / bucketMS
}

// schedKind is one of a partition's two schedules.
type schedKind string

const (
	schedHolds schedKind = "hq:"
	schedEvict schedKind = "eq:"
)

// indexKey is the bucket index of a partition's schedule.
func (w *Worker) indexKey(kind schedKind, partition int) string {
	return w.prefix + string(kind) + "{" + strconv.Itoa(partition) + "}"
}

// bucketKey is a bucket of a partition's schedule.
func (w *Worker) bucketKey(kind schedKind, partition int, bucket int64) string {
	return w.indexKey(kind, partition) + ":" + strconv.FormatInt(bucket, 10)
}

// appendRef appends an order's reference in a schedule entry.
func appendRef(dst []byte, brandNum uint64, orderID string) []byte {
	if n, ok := numericID(orderID); ok {
		dst = binary.AppendUvarint(dst, brandNum<<1|1)
		var b [8]byte
		binary.BigEndian.PutUint64(b[:], n)
		i := 0
		for i < 7 && b[i] == 0 {
			i++
		}
		return append(dst, b[i:]...)
	}
	dst = binary.AppendUvarint(dst, brandNum<<1)
	return append(dst, orderID...)
}

// numericID returns the number an order id spells if it is one the entry
// can carry as a number and give back as the same text: 1 to 19 digits,
// no leading zero.
func numericID(s string) (uint64, bool) {
	if len(s) == 0 || len(s) > 19 || s[0] == '0' {
		return 0, false
	}
	var n uint64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + uint64(c-'0')
	}
	return n, true
}

// parseRef reads an order's reference from a schedule entry.
func parseRef(b []byte) (brandNum uint64, orderID string, err error) {
	v, n := binary.Uvarint(b)
	if n <= 0 || len(b) == n {
		return 0, "", errors.New("schedule entry: truncated")
	}
	rest := b[n:]
	if v&1 == 0 {
		return v >> 1, string(rest), nil
	}
	if len(rest) > 8 || rest[0] == 0 {
		return 0, "", errors.New("schedule entry: bad numeric order id")
	}
	var id uint64
	for _, c := range rest {
		id = id<<8 | uint64(c)
	}
	return v >> 1, strconv.FormatUint(id, 10), nil
}

// holdEntry is the hold schedule's entry of an order whose hold ends at
// ms (Unix, rounded up), with its bucket.
func holdEntry(brandNum uint64, orderID string, ms int64) (bucket int64, entry string) {
	bucket = bucketOf(ms)
	sec := (ms - bucket*bucketMS) / 1000
	b := binary.BigEndian.AppendUint16(make([]byte, 0, 16), uint16(sec))
	return bucket, string(appendRef(b, brandNum, orderID))
}

// parseHoldEntry reads a hold entry of bucket: the order and the start of
// the second its hold ends in (Unix ms).
func parseHoldEntry(bucket int64, e string) (brandNum uint64, orderID string, fromMS int64, err error) {
	if len(e) < 3 {
		return 0, "", 0, errors.New("hold schedule entry: truncated")
	}
	sec := int64(binary.BigEndian.Uint16([]byte(e[:2])))
	brandNum, orderID, err = parseRef([]byte(e[2:]))
	return brandNum, orderID, bucket*bucketMS + sec*1000, err
}

// evictEntry is the eviction schedule's entry of an order whose
// retention ends at ms (Unix), with its bucket.
func evictEntry(brandNum uint64, orderID string, ms int64) (bucket int64, entry string) {
	return bucketOf(ms), string(appendRef(make([]byte, 0, 16), brandNum, orderID))
}

// schedOps collects the changes of a write to a partition's schedules, by
// bucket, to be sent as one script per bucket.
type schedOps struct {
	// add are the entries of orders that were not in the bucket, once
	// is for those that may be there already (added only if absent), rem
	// those to remove.
	add, once, rem map[schedBucket][]any
}

type schedBucket struct {
	kind   schedKind
	bucket int64
}

func (s *schedOps) put(m *map[schedBucket][]any, kind schedKind, bucket int64, entry string) {
	if *m == nil {
		*m = make(map[schedBucket][]any)
	}
	k := schedBucket{kind, bucket}
	(*m)[k] = append((*m)[k], entry)
}

// send adds the changes to pipe: removals first, so that an entry moved
// within one bucket stays.
func (s *schedOps) send(ctx context.Context, w *Worker, pipe redis.Pipeliner, partition int) {
	for k, entries := range s.rem {
		args := append([]any{k.bucket, "last"}, entries...)
		pipe.EvalSha(ctx, unschedSHA, []string{w.bucketKey(k.kind, partition, k.bucket), w.indexKey(k.kind, partition)}, args...)
	}
	for mode, m := range map[string]map[schedBucket][]any{"add": s.add, "once": s.once} {
		for k, entries := range m {
			args := append([]any{k.bucket, k.bucket * bucketMS, mode}, entries...)
			pipe.EvalSha(ctx, schedSHA, []string{w.bucketKey(k.kind, partition, k.bucket), w.indexKey(k.kind, partition)}, args...)
		}
	}
}

// sched adds entries (ARGV[4]...) to a bucket (KEYS[1]), with ARGV[3]
// "once" only those not among the bucket's last onceScan entries (a retry
// follows the write it repeats closely, so its entry, if there, is near
// the tail; one further back gets a harmless copy), and the bucket
// (ARGV[1], starting at ARGV[2]) to its index (KEYS[2]).
const sched = `local onceScan = 10000

if ARGV[3] == 'once' then
  for i = 4, #ARGV do
    if not redis.call('LPOS', KEYS[1], ARGV[i], 'RANK', -1, 'MAXLEN', onceScan) then
      redis.call('RPUSH', KEYS[1], ARGV[i])
    end
  end
else
  for i = 4, #ARGV, 1000 do
    redis.call('RPUSH', KEYS[1], unpack(ARGV, i, math.min(i + 999, #ARGV)))
  end
end
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
return 0
`

// unsched removes entries from a bucket (KEYS[1]), and the bucket
// (ARGV[1]) from its index (KEYS[2]) once empty. With ARGV[2] "any",
// ARGV[3]... are entries to remove wherever they are, every copy; with
// "last", the last copy of each only, scanning from the tail, where a
// write finds the entries of orders it scheduled recently without reading
// the whole bucket (a copy left further up is stale, and dropped when its
// bucket is read). With "head" they
// are the bucket's first entries as read, in order, each after a byte
// that says whether it stays ('1') or goes ('0'): if the bucket still
// starts with them they are trimmed at once and those that stay pushed
// back in front, in order; otherwise those that go are removed one by
// one.
const unsched = `
if ARGV[2] == 'head' then
  local n = #ARGV - 2
  local head = redis.call('LRANGE', KEYS[1], 0, n - 1)
  local same = #head == n
  if same then
    for i = 1, n do
      if head[i] ~= string.sub(ARGV[i + 2], 2) then same = false break end
    end
  end
  if same then
    redis.call('LTRIM', KEYS[1], n, -1)
    for i = #ARGV, 3, -1 do
      if string.sub(ARGV[i], 1, 1) == '1' then redis.call('LPUSH', KEYS[1], string.sub(ARGV[i], 2)) end
    end
  else
    for i = 3, #ARGV do
      if string.sub(ARGV[i], 1, 1) == '0' then redis.call('LREM', KEYS[1], 0, string.sub(ARGV[i], 2)) end
    end
  end
else
  local count = 0
  if ARGV[2] == 'last' then count = -1 end
  for i = 3, #ARGV do redis.call('LREM', KEYS[1], count, ARGV[i]) end
end
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('ZREM', KEYS[2], ARGV[1])
end
return 0
`

// assignBrands returns the number of each brand (ARGV) in the brands hash
// (KEYS[1]), giving the next number to a brand without one.
const assignBrands = `
local out = {}
for i = 1, #ARGV do
  local n = redis.call('HGET', KEYS[1], 'b' .. ARGV[i])
  if not n then
    n = redis.call('HINCRBY', KEYS[1], 'next', 1)
    redis.call('HSET', KEYS[1], 'b' .. ARGV[i], n, 'n' .. n, ARGV[i])
  end
  out[i] = tonumber(n)
end
return out
`

var (
	schedSHA        = scriptSHA(sched)
	unschedSHA      = scriptSHA(unsched)
	assignBrandsSHA = scriptSHA(assignBrands)
)

// brandDict caches the brands' numbers (see "Schedules").
type brandDict struct {
	mu    sync.Mutex
	byID  map[string]uint64
	byNum map[uint64]string
}

func (d *brandDict) reset() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.byID, d.byNum = nil, nil
}

func (d *brandDict) learn(id string, n uint64) {
	if d.byID == nil {
		d.byID, d.byNum = make(map[string]uint64), make(map[uint64]string)
	}
	d.byID[id], d.byNum[n] = n, id
}

// unknown returns the brands given that have no number cached, each once.
func (d *brandDict) unknown(brands []string) []any {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []any
	seen := map[string]bool{}
	for _, b := range brands {
		if _, ok := d.byID[b]; !ok && !seen[b] {
			seen[b] = true
			out = append(out, b)
		}
	}
	return out
}

// learnAll caches the numbers the assignBrands script (cmd) gave brands.
func (d *brandDict) learnAll(brands []any, cmd *redis.Cmd) error {
	nums, err := cmd.Int64Slice()
	if err != nil {
		return fmt.Errorf("number %d brands for the schedules: %w", len(brands), err)
	}
	if len(nums) != len(brands) {
		return fmt.Errorf("number %d brands for the schedules: %d numbers came back", len(brands), len(nums))
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	for i, b := range brands {
		d.learn(b.(string), uint64(nums[i]))
	}
	return nil
}

func (w *Worker) brandsKey() string { return w.prefix + "brands" }

// brandNumbers returns the number of every brand given, assigning numbers
// to new brands (one round trip when some are not cached).
func (w *Worker) brandNumbers(ctx context.Context, brands []string) (map[string]uint64, error) {
	d := &w.brands
	out := make(map[string]uint64, len(brands))
	var missing []any
	d.mu.Lock()
	for _, b := range brands {
		if n, ok := d.byID[b]; ok {
			out[b] = n
		} else if _, dup := out[b]; !dup {
			out[b] = 0
			missing = append(missing, b)
		}
	}
	d.mu.Unlock()
	if len(missing) == 0 {
		return out, nil
	}
	if err := w.loadScripts(ctx); err != nil {
		return nil, err
	}
	if err := d.learnAll(missing, w.rdb.EvalSha(ctx, assignBrandsSHA, []string{w.brandsKey()}, missing...)); err != nil {
		w.scriptsLost(err)
		return nil, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, b := range missing {
		out[b.(string)] = d.byID[b.(string)]
	}
	return out, nil
}

// brandIDs returns the brand of every number given (one round trip when
// some are not cached); a number without a brand has no entry.
func (w *Worker) brandIDs(ctx context.Context, nums []uint64) (map[uint64]string, error) {
	d := &w.brands
	out := make(map[uint64]string, len(nums))
	var missing []string
	var missNums []uint64
	d.mu.Lock()
	for _, n := range nums {
		if id, ok := d.byNum[n]; ok {
			out[n] = id
		} else if !containsNum(missNums, n) {
			missNums = append(missNums, n)
			missing = append(missing, "n"+strconv.FormatUint(n, 10))
		}
	}
	d.mu.Unlock()
	if len(missing) == 0 {
		return out, nil
	}
	vals, err := w.rdb.HMGet(ctx, w.brandsKey(), missing...).Result()
	if err != nil {
		return nil, fmt.Errorf("read %d brands of the schedules: %w", len(missing), err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	for i, v := range vals {
		if s, ok := v.(string); ok && s != "" {
			out[missNums[i]] = s
			d.learn(s, missNums[i])
		}
	}
	return out, nil
}

func containsNum(s []uint64, n uint64) bool {
	for _, v := range s {
		if v == n {
			return true
		}
	}
	return false
}

// dueBuckets returns the buckets of a partition's schedule that start at
// or before maxStartMS, earliest first.
func (w *Worker) dueBuckets(ctx context.Context, kind schedKind, partition int, maxStartMS int64) ([]int64, error) {
	members, err := w.rdb.ZRangeByScore(ctx, w.indexKey(kind, partition), &redis.ZRangeBy{
		Min: "-inf", Max: strconv.FormatInt(maxStartMS, 10)}).Result()
	if err != nil {
		return nil, fmt.Errorf("read the buckets of schedule %s of partition %d: %w", kind, partition, err)
	}
	out := make([]int64, 0, len(members))
	for _, m := range members {
		b, err := strconv.ParseInt(m, 10, 64)
		if err != nil {
			w.log.Error("schedule: dropping an index member that is not a bucket", "key", w.indexKey(kind, partition), "member", m)
			w.rdb.ZRem(ctx, w.indexKey(kind, partition), m)
			continue
		}
		out = append(out, b)
	}
	return out, nil
}

// migrateSchedules moves a partition's schedules of the former form,
// sorted sets (holds:<partition>, member the order.hold_expired payload;
// evict:<partition>, member <brand>:<order>; each scored by its due time),
// into buckets, a thousand members at a time, removing each member once
// its entry is written. A partition handler runs it when it starts; it
// does nothing when those keys are gone.
func (w *Worker) migrateSchedules(ctx context.Context, partition int) error {
	for _, old := range []string{w.holdsKey(partition), w.evictKey(partition)} {
		holds := old == w.holdsKey(partition)
		for {
			zs, err := w.rdb.ZRangeWithScores(ctx, old, 0, 999).Result()
			if err != nil {
				return fmt.Errorf("read the former schedule %s: %w", old, err)
			}
			if len(zs) == 0 {
				break
			}
			type ref struct{ brand, order string }
			refs := make([]ref, len(zs))
			brands := make([]string, 0, len(zs))
			for i, z := range zs {
				m, _ := z.Member.(string)
				if holds {
					var h schemas.OrderHoldExpired
					if err := schemas.UnmarshalPayload([]byte(m), &h); err == nil && h.BrandID != "" && h.OrderID != "" {
						refs[i] = ref{h.BrandID, h.OrderID}
					}
				} else if b, o, ok := parseEvictMember(m); ok {
					refs[i] = ref{b, o}
				}
				if refs[i].brand != "" {
					brands = append(brands, refs[i].brand)
				} else {
					w.log.Error("former schedule: dropping a member that names no order", "key", old, "member", m)
				}
			}
			nums, err := w.brandNumbers(ctx, brands)
			if err != nil {
				return err
			}
			var ops schedOps
			members := make([]any, len(zs))
			for i, z := range zs {
				members[i] = z.Member
				if refs[i].brand == "" {
					continue
				}
				if holds {
					bk, e := holdEntry(nums[refs[i].brand], refs[i].order, int64(z.Score))
					ops.put(&ops.once, schedHolds, bk, e)
				} else {
					bk, e := evictEntry(nums[refs[i].brand], refs[i].order, int64(z.Score))
					ops.put(&ops.once, schedEvict, bk, e)
				}
			}
			pipe := w.rdb.Pipeline()
			ops.send(ctx, w, pipe, partition)
			if _, err := pipe.Exec(ctx); err != nil {
				w.scriptsLost(err)
				return fmt.Errorf("move %d members of the former schedule %s: %w", len(zs), old, err)
			}
			if err := w.rdb.ZRem(ctx, old, members...).Err(); err != nil {
				return fmt.Errorf("move %d members of the former schedule %s: %w", len(zs), old, err)
			}
			w.log.Info("moved members of a former schedule into buckets", "key", old, "members", len(zs))
		}
	}
	return nil
}
