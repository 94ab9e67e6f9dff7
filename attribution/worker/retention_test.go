package worker_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/attrib-engine/attrib/attribution/worker"
	"github.com/attrib-engine/attrib/catalog"
	"github.com/attrib-engine/attrib/readmodel"
	"github.com/attrib-engine/attrib/readmodel/readmodeltest"
	"github.com/attrib-engine/attrib/schemas"
)

// coldStore adapts readmodel.WorkerStates to worker.ColdStore, as
// cmd/attrib does, and can be made to fail.
type coldStore struct {
	ws   *readmodel.WorkerStates
	down atomic.Bool
	// loads counts the orders looked up.
	loads atomic.Int64
	// saves records each SaveStates call that succeeded.
	mu    sync.Mutex
	saves []coldSave
}

// coldSave is one insert of evicted states.
type coldSave struct {
	at     time.Time
	states int
}

func (c *coldStore) savesSoFar() []coldSave {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]coldSave(nil), c.saves...)
}

var errColdDown = errors.New("test: the cold store is down")

func (c *coldStore) SaveStates(ctx context.Context, states []worker.ColdState) error {
	if c.down.Load() {
		return errColdDown
	}
	out := make([]readmodel.WorkerState, len(states))
	for i, s := range states {
		out[i] = readmodel.WorkerState{OrderRef: readmodel.OrderRef(s.OrderRef), Progress: s.Progress, State: s.State}
	}
	if err := c.ws.Save(ctx, out); err != nil {
		return err
	}
	c.mu.Lock()
	c.saves = append(c.saves, coldSave{time.Now(), len(states)})
	c.mu.Unlock()
	return nil
}

func (c *coldStore) LoadStates(ctx context.Context, orders []worker.OrderRef) (map[worker.OrderRef][]byte, error) {
	if c.down.Load() {
		return nil, errColdDown
	}
	c.loads.Add(int64(len(orders)))
	refs := make([]readmodel.OrderRef, len(orders))
	for i, o := range orders {
		refs[i] = readmodel.OrderRef(o)
	}
	got, err := c.ws.Load(ctx, refs)
	if err != nil {
		return nil, err
	}
	out := make(map[worker.OrderRef][]byte, len(got))
	for k, v := range got {
		out[worker.OrderRef(k)] = v
	}
	return out, nil
}

// withCold gives the worker a cold store in a migrated ClickHouse database
// of the test's own, and the retention.
func withCold(t testing.TB, cold **coldStore, retention time.Duration) rigOption {
	conn, db := readmodeltest.Migrated(t)
	ws, err := readmodel.NewWorkerStates(conn, db)
	if err != nil {
		t.Fatal(err)
	}
	*cold = &coldStore{ws: ws}
	return workerConfig(func(c *worker.Config) { c.Cold, c.Retention = *cold, retention })
}

// orderKeys returns the order ids whose states are in Redis.
func (r *rig) orderKeys() map[string]bool {
	r.t.Helper()
	keys, err := r.rdb.Keys(context.Background(), r.cfg.Prefix+"order:*").Result()
	if err != nil {
		r.t.Fatal(err)
	}
	out := make(map[string]bool, len(keys))
	for _, k := range keys {
		out[k[strings.LastIndexByte(k, ':')+1:]] = true
	}
	return out
}

// waitOrderKeys waits until exactly the given orders have states in Redis
// and no eviction is due any more.
func (r *rig) waitOrderKeys(want ...string) {
	r.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		got := r.orderKeys()
		ok := len(got) == len(want)
		for _, id := range want {
			ok = ok && got[id]
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("orders in redis: %v, want %v", got, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestRetention: settled orders leave Redis once their retention ends,
// with nothing of them left behind; late events of evicted orders (a
// refund, duplicates by event id and by shop event id, inside and after
// the window) are handled exactly as if the orders had stayed; a new
// order is not looked up in the cold store; a cold store that is down
// delays, never decides; a rebuild keeps only what the window keeps.
//
// The partition handlers keep no states in memory here, so that every
// late event of an evicted order goes to the cold store (with a cache, an
// order still cached is taken from it, as exact).
func TestRetention(t *testing.T) {
	t.Parallel()
	var cold *coldStore
	r, evs, wants := scenarioRig(t, withCold(t, &cold, day), workerConfig(func(c *worker.Config) { c.StateCache = -1 }))
	p := at(placedAt)
	r.append(schemas.TopicOrders, evs...)
	r.runWorker()
	waitRows(t, r.store, wants, 30*time.Second)

	// Ten days on: the hold of o-hold has ended (it becomes approved), and
	// every settled order's day of retention is over. The orders still
	// pending stay.
	r.clock.Set(p.Add(10 * day))
	wants["o-hold"] = want{typ: attributed, status: schemas.StatusApproved, earnings: "100.00", version: 2, winner: codeHold}
	waitRows(t, r.store, wants, 30*time.Second)
	pending := []string{"o-pct", "o-multi", "o-cyr"}
	r.waitOrderKeys(pending...)
	ctx := context.Background()
	if n, err := r.rdb.Exists(ctx, r.cfg.Prefix+"hq:{0}").Result(); err != nil || n != 0 {
		t.Errorf("hold schedule of partition 0: %d keys (%v)", n, err)
	}
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		got := counter(t, r.reg, "attrib_attribution_states_evicted_total")
		if got == float64(len(wants)-len(pending)) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("evicted %v states, want %d", got, len(wants)-len(pending))
		}
	}
	rowsBefore := readRows(t, r.store)

	// Late events: a refund of an evicted approved order, one of an
	// evicted rejected order, an evicted order's confirmation delivered
	// again and sent again by the shop, and a brand-new order.
	loads := cold.loads.Load()
	late := []schemas.Envelope{
		refunded(t, "o-fixed", p.Add(9*day), "100.00"),
		refunded(t, "o-full", p.Add(9*day), "1.00"),
		placed(t, "o-new", p.Add(10*day), "500.00", codeAnna),
	}
	var dupConfirmed schemas.Envelope
	for _, e := range evs {
		if e.Type == schemas.TypeOrderConfirmed && strings.Contains(string(e.Payload), `"o-dup"`) {
			dupConfirmed = e
		}
	}
	late = append(late, redelivered(dupConfirmed), resent(dupConfirmed))
	r.append(schemas.TopicOrders, late...)
	wants["o-fixed"] = want{typ: attributed, status: schemas.StatusApproved, earnings: "150.00", version: 3, cause: schemas.TypeOrderRefunded, winner: codeAnna}
	wants["o-full"] = want{typ: attributed, status: schemas.StatusRejected, earnings: "0.00", version: 3, cause: schemas.TypeOrderRefunded, winner: codeBoris}
	wants["o-new"] = want{typ: attributed, status: schemas.StatusPending, earnings: "150.00", version: 1, winner: codeAnna}
	rows := waitRows(t, r.store, wants, 30*time.Second)
	r.waitCommitted()
	if n := len(rows["o-dup"]); n != len(rowsBefore["o-dup"]) {
		t.Errorf("o-dup has %d rows after its duplicates, had %d", n, len(rowsBefore["o-dup"]))
	}
	if got := cold.loads.Load() - loads; got != 3 {
		t.Errorf("%d orders looked up in the cold store, want 3 (o-fixed, o-full, o-dup; not o-new)", got)
	}
	if got := rows["o-fixed"][len(rows["o-fixed"])-1].Net; got != "900.00" {
		t.Errorf("o-fixed net %s after its late refund, want 900.00", got)
	}

	// They leave again; the same late events once more are duplicates.
	r.waitOrderKeys(append(pending, "o-new")...)
	loads = cold.loads.Load()
	r.append(schemas.TopicOrders, late[0], resent(late[1]))
	r.waitCommitted()
	r.waitOrderKeys(append(pending, "o-new")...)
	if got := cold.loads.Load() - loads; got != 2 {
		t.Errorf("%d orders looked up in the cold store, want 2 (o-fixed, o-full)", got)
	}
	after := readRows(t, r.store)
	for _, id := range []string{"o-fixed", "o-full"} {
		if fin := final(t, after)[id]; fin.Version != 3 || len(after[id]) != len(rows[id]) {
			t.Errorf("%s: %d rows, final version %d, after its duplicates past the window; want %d rows, version 3", id, len(after[id]), fin.Version, len(rows[id]))
		}
	}

	// The cold store down: a late event waits, and is handled once it is
	// back.
	cold.down.Store(true)
	r.append(schemas.TopicOrders, refunded(t, "o-fixed", p.Add(8*day), "50.00"))
	time.Sleep(500 * time.Millisecond)
	if fin := final(t, readRows(t, r.store))["o-fixed"]; fin.Version != 3 {
		t.Fatalf("o-fixed decided without its state: version %d", fin.Version)
	}
	cold.down.Store(false)
	wants["o-fixed"] = want{typ: attributed, status: schemas.StatusApproved, earnings: "150.00", version: 4, cause: schemas.TypeOrderRefunded, winner: codeAnna}
	waitRows(t, r.store, wants, 30*time.Second)
	r.waitOrderKeys(append(pending, "o-new")...)
	checkVersions(t, readRows(t, r.store))
}

// TestRetentionRebuild: `attrib rebuild redis` with a cold store leaves in
// Redis only the orders the window keeps, and the evicted orders' states
// are those the live worker evicted.
func TestRetentionRebuild(t *testing.T) {
	t.Parallel()
	var cold *coldStore
	r, evs, wants := scenarioRig(t, withCold(t, &cold, day))
	p := at(placedAt)
	r.append(schemas.TopicOrders, evs...)
	stop := r.runWorker()
	waitRows(t, r.store, wants, 30*time.Second)
	r.clock.Set(p.Add(2*day + 12*time.Hour))
	wants["o-hold"] = want{typ: attributed, status: schemas.StatusApproved, earnings: "100.00", version: 2, winner: codeHold}
	waitRows(t, r.store, wants, 30*time.Second)
	r.waitOrderKeys("o-pct", "o-multi", "o-cyr", "o-fixed")
	r.waitCommitted()
	stop()
	before := dump(t, r.rdb, r.cfg.Prefix)
	if err := r.w.Rebuild(context.Background(), nil); err != nil {
		t.Fatalf("rebuild: %v", err)
	}
	r.waitOrderKeys("o-pct", "o-multi", "o-cyr", "o-fixed")
	if after := dump(t, r.rdb, r.cfg.Prefix); after != before {
		t.Errorf("the rebuilt state differs\n--- live\n%s\n--- rebuilt\n%s", before, after)
	}
}

// TestStateBytes measures what an order costs in Redis (MEMORY USAGE),
// at the length the default prefix and the engine's ids give its key: its
// state, plus its entry in its partition's schedules (the holds of an
// order under hold, the evictions of a settled one), measured as the
// growth of a bucket of a thousand such entries. Every kind, open (under
// hold) or settled (in the retention window), must cost at most 300
// bytes. The buckets' own keys (one per
// partition, schedule and hour) and the brands' numbers (one field per
// brand) are shared by every order and logged apart.
func TestStateBytes(t *testing.T) {
	t.Parallel()
	var cold *coldStore
	r := newRig(t, withCold(t, &cold, 30*day))
	r.clock.Set(at(placedAt + time.Hour))
	hexID := func(prefix string, n int) string { return fmt.Sprintf("%s%024x", prefix, n) }
	brand := hexID("brd_", 1)
	offer, creator, req := hexID("ofr_", 2), hexID("crt_", 3), hexID("req_", 4)
	r.cat.do(at(0), catalog.RegisterBrand{BrandID: brand, Name: "Acme", APIKeyHash: sha("key"), WebhookSecretSalt: "salt"})
	r.cat.do(at(time.Minute), catalog.PublishOffer{BrandID: brand, OfferID: offer, Name: "Spring sale", Payout: percent("10"),
		Countries: []string{"RU"}, Platforms: []string{"instagram"}, HoldDays: 14})
	r.cat.do(at(2*time.Minute), catalog.RequestCode{BrandID: brand, OfferID: offer, RequestID: req, CreatorID: creator, Platform: "instagram"})
	r.cat.do(at(time.Hour), catalog.ConfirmCode{BrandID: brand, RequestID: req, Code: "ANNA10"})
	r.runProjection()
	r.waitIndex()
	p := at(placedAt)
	type kind struct {
		name string
		open bool
		code string
		// then: confirm (c), refund 499.90 (r), cancel (x), after the
		// placement, a day apart; the offer holds for 14 days, and a
		// confirmation approves at once.
		then string
		want want
	}
	kinds := []kind{
		{"open: placed, under hold", true, "anna10", "", want{typ: attributed, status: schemas.StatusPending, earnings: "249.99", version: 1}},
		{"open: partly refunded, under hold", true, "anna10", "r", want{typ: attributed, status: schemas.StatusPending, earnings: "200.00", version: 2}},
		{"settled: confirmed (approved)", false, "anna10", "c", want{typ: attributed, status: schemas.StatusApproved, earnings: "249.99", version: 2}},
		{"settled: partly refunded, confirmed", false, "anna10", "rc", want{typ: attributed, status: schemas.StatusApproved, earnings: "200.00", version: 3}},
		{"settled: cancelled", false, "anna10", "x", want{typ: attributed, status: schemas.StatusRejected, earnings: "0.00", version: 2}},
		{"settled: unattributed", false, "summer", "", want{typ: unattributed, reason: schemas.OutcomeUnknownCode, version: 1}},
	}
	wants := map[string]want{}
	ids := map[string]string{}
	for i, k := range kinds {
		id := fmt.Sprint(5834129012345 + i)
		ids[k.name] = id
		wants[id] = k.want
		shop := func(kind string) string { return "gid://shopify/Order/" + id + "/" + kind }
		evs := []schemas.Envelope{orderEnv(t, schemas.OrderPlaced{OrderID: id, BrandID: brand, ShopEventID: shop("create"),
			PromoCodes: []string{k.code}, Amount: "2499.90", Currency: "RUB", Country: "RU"}, p)}
		for j, c := range k.then {
			when := p.Add(time.Duration(j+1) * day)
			switch c {
			case 'c':
				evs = append(evs, orderEnv(t, schemas.OrderConfirmed{OrderID: id, BrandID: brand, ShopEventID: shop("fulfilled")}, when))
			case 'r':
				evs = append(evs, orderEnv(t, schemas.OrderRefunded{OrderID: id, BrandID: brand, ShopEventID: shop("refund/1"), RefundAmount: "499.90"}, when))
			case 'x':
				evs = append(evs, orderEnv(t, schemas.OrderCancelled{OrderID: id, BrandID: brand, ShopEventID: shop("cancel")}, when))
			}
		}
		r.append(schemas.TopicOrders, evs...)
	}
	stop := r.runWorker()
	waitRows(t, r.store, wants, 30*time.Second)
	r.waitCommitted()
	stop()

	ctx := context.Background()
	// Every schedule entry, by order id.
	type entry struct{ key, val string }
	entries := map[string][]entry{}
	var buckets []string
	for _, pattern := range []string{"hq:{*}:*", "eq:{*}:*"} {
		keys, err := r.rdb.Keys(ctx, r.cfg.Prefix+pattern).Result()
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range keys {
			buckets = append(buckets, k)
			vals, err := r.rdb.LRange(ctx, k, 0, -1).Result()
			if err != nil {
				t.Fatal(err)
			}
			for _, v := range vals {
				_, id, _, err := worker.ScheduleEntry(v, pattern[0] == 'h')
				if err != nil {
					t.Fatalf("%s: %v", k, err)
				}
				entries[id] = append(entries[id], entry{k, v})
			}
		}
	}
	usage := func(key string) int64 {
		t.Helper()
		n, err := r.rdb.MemoryUsage(ctx, key, 0).Result()
		if err != nil {
			t.Fatalf("memory usage %s: %v", key, err)
		}
		return n
	}
	const copies = 1000
	for _, k := range kinds {
		id := ids[k.name]
		key := r.cfg.Prefix + "order:" + brand + ":" + id
		v, err := r.rdb.Get(ctx, key).Bytes()
		if err != nil {
			t.Fatalf("%s: %v", k.name, err)
		}
		// The same value under a key as long as the default prefix makes
		// it (and still under the test's prefix).
		prodLen := len(worker.DefaultPrefix + "order:" + brand + ":" + id)
		probe := r.cfg.Prefix + "probe:"
		if len(probe) > prodLen {
			t.Fatalf("the test's prefix makes keys %d bytes longer than in production", len(probe)-prodLen)
		}
		probe += strings.Repeat("x", prodLen-len(probe))
		if err := r.rdb.Set(ctx, probe, v, 0).Err(); err != nil {
			t.Fatal(err)
		}
		state := usage(probe)
		// Its schedule entries, a thousand times in a list of their own.
		var sched int64
		var where []string
		for _, e := range entries[id] {
			list := r.cfg.Prefix + "probe-list"
			args := make([]any, copies)
			for i := range args {
				args[i] = e.val
			}
			if err := r.rdb.Del(ctx, list).Err(); err != nil {
				t.Fatal(err)
			}
			if err := r.rdb.RPush(ctx, list, args...).Err(); err != nil {
				t.Fatal(err)
			}
			sched += (usage(list) + copies/2) / copies
			where = append(where, fmt.Sprintf("%s %d-byte entry", strings.SplitN(strings.TrimPrefix(e.key, r.cfg.Prefix), "{", 2)[0], len(e.val)))
		}
		switch {
		case k.open && !strings.HasPrefix(strings.Join(where, ""), "hq:"):
			t.Errorf("%s: scheduled in %v, want the holds", k.name, where)
		case !k.open && (len(where) != 1 || !strings.HasPrefix(where[0], "eq:")):
			t.Errorf("%s: scheduled in %v, want the evictions", k.name, where)
		}
		total := state + sched
		t.Logf("%-45s value %3d B, state %3d B + schedule %2d B (%s) = %3d B", k.name, len(v), state, sched, strings.Join(where, ", "), total)
		if total > 300 {
			t.Errorf("%s: %d bytes of Redis, want at most 300", k.name, total)
		}
	}
	for _, b := range buckets {
		t.Logf("shared: bucket %s with %d entries: %d B", strings.TrimPrefix(b, r.cfg.Prefix), r.rdb.LLen(ctx, b).Val(), usage(b))
	}
	for _, k := range []string{"hq:{0}", "eq:{0}", "brands"} {
		if n := r.rdb.Exists(ctx, r.cfg.Prefix+k).Val(); n == 1 {
			t.Logf("shared: %s: %d B", k, usage(r.cfg.Prefix+k))
		}
	}
}

// TestRetentionShuffled: the scenario's events, each also redelivered and
// resent by the shop, shuffled, in four parts with ten days between them,
// with a retention of a day: orders are evicted between the parts and
// brought back by their later events and duplicates, and every order ends
// with the rows it has when nothing leaves Redis. A rebuild then leaves
// Redis as the live worker did, and the whole stream sent once more
// changes nothing.
func TestRetentionShuffled(t *testing.T) {
	t.Parallel()
	var cold *coldStore
	r, evs, wants := scenarioRig(t, withCold(t, &cold, day), workerConfig(func(c *worker.Config) { c.StateCache = -1 }))
	p := at(placedAt)
	wants["o-hold"] = want{typ: attributed, status: schemas.StatusApproved, earnings: "100.00", version: 2, winner: codeHold}
	var all []schemas.Envelope
	for _, e := range evs {
		all = append(all, e, redelivered(e), resent(e))
	}
	rng := rand.New(rand.NewPCG(22, 1))
	rng.Shuffle(len(all), func(i, j int) { all[i], all[j] = all[j], all[i] })
	stop := r.runWorker()
	ctx := context.Background()
	parts := 4
	for i := range parts {
		r.append(schemas.TopicOrders, all[i*len(all)/parts:(i+1)*len(all)/parts]...)
		r.waitCommitted()
		r.clock.Set(p.Add(time.Duration(i+1) * 10 * day))
		// Wait until nothing is due for eviction any more.
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			due := int64(0)
			for part := range 4 {
				n, err := r.rdb.ZCount(ctx, fmt.Sprintf("%seq:{%d}", r.cfg.Prefix, part), "-inf", fmt.Sprint(r.clock.Now().Add(-time.Hour).UnixMilli())).Result()
				if err != nil {
					t.Fatal(err)
				}
				due += n
			}
			if due == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("part %d: %d evictions still due", i, due)
			}
		}
	}
	waitRows(t, r.store, wants, 30*time.Second)
	r.waitCommitted()
	checkVersions(t, readRows(t, r.store))
	if got := counter(t, r.reg, "attrib_attribution_states_evicted_total"); got <= float64(len(wants)) {
		t.Errorf("%v states evicted, want more than one per order", got)
	}
	if cold.loads.Load() == 0 {
		t.Error("no order was looked up in the cold store")
	}
	t.Logf("%v evictions, %d cold lookups", counter(t, r.reg, "attrib_attribution_states_evicted_total"), cold.loads.Load())

	// A rebuild leaves what the live worker left (the window's orders and
	// their schedules, the bounds); then the whole stream once more,
	// shuffled again, is nothing but duplicates.
	stop()
	before := dump(t, r.rdb, r.cfg.Prefix)
	if err := r.w.Rebuild(ctx, nil); err != nil {
		t.Fatalf("rebuild: %v", err)
	}
	if after := dump(t, r.rdb, r.cfg.Prefix); after != before {
		t.Errorf("the rebuilt state differs\n--- live\n%s\n--- rebuilt\n%s", before, after)
	}
	rowsBefore := readRows(t, r.store)
	loads := cold.loads.Load()
	r.runWorker()
	rng.Shuffle(len(all), func(i, j int) { all[i], all[j] = all[j], all[i] })
	r.append(schemas.TopicOrders, all...)
	r.waitCommitted()
	rowsAfter := readRows(t, r.store)
	for id, rs := range rowsAfter {
		if len(rs) != len(rowsBefore[id]) {
			t.Errorf("order %s: %d rows after the stream was sent again, %d before", id, len(rs), len(rowsBefore[id]))
		}
	}
	if cold.loads.Load() == loads {
		t.Error("the stream sent again after the rebuild looked up no evicted order")
	}
}

// checkVersions fails the test if an order's rows, in log order, ever go
// back to a lower version, or state one version twice with different
// content: what an order decided again as if new would emit.
func checkVersions(t *testing.T, rows map[string][]row) {
	t.Helper()
	for id, rs := range rows {
		for i := 1; i < len(rs); i++ {
			prev, cur := rs[i-1], rs[i]
			switch {
			case cur.Version < prev.Version:
				t.Errorf("order %s: row of version %d after version %d", id, cur.Version, prev.Version)
			case cur.Version == prev.Version && cur.payload != prev.payload:
				t.Errorf("order %s: two rows of version %d differ:\n%s\n%s", id, cur.Version, prev.payload, cur.payload)
			}
		}
	}
}

// TestEvictionSteps: a partition's handler evicts once per EvictInterval
// (at its first tick, then at the first tick after each interval), and a
// step's due states go to the cold store in inserts of at most 5,000
// (evictBatch): 5,001 orders due at once in one partition make two
// inserts in one step; orders due just after that step wait for the next
// one, an interval later.
func TestEvictionSteps(t *testing.T) {
	t.Parallel()
	const interval = 4 * time.Second
	var cold *coldStore
	r := newRig(t, partitions(1), withCold(t, &cold, day), workerConfig(func(c *worker.Config) {
		c.EvictInterval, c.HoldTick, c.StateCache = interval, 20*time.Millisecond, -1
	}))
	p := at(placedAt)
	r.clock.Set(p.Add(time.Hour))
	r.cat.standardCatalog()
	r.runProjection()
	r.waitIndex()
	var evs []schemas.Envelope
	for i := range 5001 {
		evs = append(evs, placed(t, fmt.Sprintf("o-%d", i), p, "100.00")) // no code: unattributed, settled
	}
	r.append(schemas.TopicOrders, evs...)
	r.runWorker()
	r.waitCommitted()
	if s := cold.savesSoFar(); len(s) != 0 {
		t.Fatalf("%d inserts before any order was due", len(s))
	}
	waitEvicted := func(n float64) {
		t.Helper()
		for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			if got := counter(t, r.reg, "attrib_attribution_states_evicted_total"); got == n {
				return
			} else if time.Now().After(deadline) {
				t.Fatalf("%v states evicted, want %v", got, n)
			}
		}
	}
	r.clock.Set(p.Add(day + time.Minute))
	waitEvicted(5001)
	first := cold.savesSoFar()
	if len(first) != 2 || first[0].states != 5000 || first[1].states != 1 {
		t.Fatalf("inserts %+v, want two: 5,000 and 1", first)
	}
	if gap := first[1].at.Sub(first[0].at); gap >= interval {
		t.Errorf("the two inserts of one step were %v apart, want one step (less than the interval %v)", gap, interval)
	}

	// Orders due right after that step wait for the next one.
	more := []schemas.Envelope{placed(t, "o-late-1", p.Add(time.Hour), "100.00"), placed(t, "o-late-2", p.Add(time.Hour), "100.00")}
	r.append(schemas.TopicOrders, more...)
	r.waitCommitted()
	r.clock.Set(p.Add(day + 2*time.Hour))
	waitEvicted(5003)
	all := cold.savesSoFar()
	if len(all) != 3 || all[2].states != 2 {
		t.Fatalf("inserts %+v, want a third of 2", all)
	}
	// The first insert came after the step had read 5,000 states and
	// written them: allow it two seconds of a loaded machine.
	gap := all[2].at.Sub(first[0].at)
	if gap < interval-2*time.Second || gap > 3*interval {
		t.Errorf("the next step came %v after the first, want about the interval %v", gap, interval)
	}
	t.Logf("inserts: %d and %d states in one step, then %d states %v later", first[0].states, first[1].states, all[2].states, gap.Round(time.Millisecond))
}

// TestFormerSchedulesMoved: the schedules a worker of before the buckets
// left (sorted sets of hold payloads and of <brand>:<order>) are moved
// into buckets when the partition handlers start, and still fire: the
// hold ends and the settled orders leave Redis.
func TestFormerSchedulesMoved(t *testing.T) {
	t.Parallel()
	var cold *coldStore
	r, evs, wants := scenarioRig(t, withCold(t, &cold, day))
	p := at(placedAt)
	r.append(schemas.TopicOrders, evs...)
	stop := r.runWorker()
	waitRows(t, r.store, wants, 30*time.Second)
	r.waitCommitted()
	stop()
	ctx := context.Background()
	if err := r.w.ToFormerSchedules(ctx, 4); err != nil {
		t.Fatal(err)
	}
	former := func() (holds, evicts int64) {
		for part := range 4 {
			holds += r.rdb.ZCard(ctx, fmt.Sprintf("%sholds:%d", r.cfg.Prefix, part)).Val()
			evicts += r.rdb.ZCard(ctx, fmt.Sprintf("%sevict:%d", r.cfg.Prefix, part)).Val()
		}
		return holds, evicts
	}
	if h, e := former(); h == 0 || e == 0 {
		t.Fatalf("former schedules: %d holds, %d evictions; want some of each", h, e)
	}
	if d := dump(t, r.rdb, r.cfg.Prefix); strings.Contains(d, "hq:") || strings.Contains(d, "eq:") {
		t.Fatalf("buckets left beside the former schedules:\n%s", d)
	}
	r.runWorker()
	r.clock.Set(p.Add(10 * day))
	wants["o-hold"] = want{typ: attributed, status: schemas.StatusApproved, earnings: "100.00", version: 2, winner: codeHold}
	waitRows(t, r.store, wants, 30*time.Second)
	r.waitOrderKeys("o-pct", "o-multi", "o-cyr")
	if h, e := former(); h != 0 || e != 0 {
		t.Errorf("former schedules left: %d holds, %d evictions", h, e)
	}
}
