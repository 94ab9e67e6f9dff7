package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math/rand"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/redis/go-redis/v9"

	"github.com/attrib-engine/attrib/ingest"
	"github.com/attrib-engine/attrib/schemas"
)

// retentionOptions are the flags of `attrib loadgen retention`.
type retentionOptions struct {
	orders, days, brands, creators, holdDays int
	seed                                     int64
	curve                                    string
}

func (o *retentionOptions) flags(fs *flag.FlagSet) {
	fs.IntVar(&o.orders, "retention-orders", 1_000_000, "loadgen retention: orders placed over the simulated days")
	fs.IntVar(&o.days, "retention-days", 180, "loadgen retention: simulated days the orders are placed over")
	fs.IntVar(&o.brands, "retention-brands", 4, "loadgen retention: brands, one offer each")
	fs.IntVar(&o.creators, "retention-creators", 25, "loadgen retention: creators, each with a code for every brand's offer")
	fs.IntVar(&o.holdDays, "retention-hold-days", 14, "loadgen retention: hold days of the offers")
	fs.Int64Var(&o.seed, "retention-seed", 22, "loadgen retention: seed of the orders")
	fs.StringVar(&o.curve, "retention-curve", "", "loadgen retention: file to write the per-day curve to, as CSV (empty: none)")
}

// Shape of the retention scenario's order stream: the stream (a
// third confirmed, a tenth partly refunded), with refunds late.
const (
	retentionConfirmShare = 3  // one order in this many is confirmed
	retentionRefundShare  = 10 // one order in this many is partly refunded
	retentionNoCodeShare  = 20 // one order in this many has no code
	retentionBatch        = 500
	retentionSenders      = 4
)

// simClock is the engine's clock during a retention run: real time moved
// by an offset that only grows, so simulated days pass in seconds.
type simClock struct{ offset atomic.Int64 }

func (c *simClock) now() time.Time { return time.Now().Add(time.Duration(c.offset.Load())) }

// advance moves the clock forward to t (never back).
func (c *simClock) advance(t time.Time) {
	if d := time.Until(t); d > time.Duration(c.offset.Load()) {
		c.offset.Store(int64(d))
	}
}

// retentionEvent is one shop event the scenario sends on its day.
type retentionEvent struct {
	order  int32
	kind   byte // 'p'laced, 'c'onfirmed, 'r'efunded
	at     time.Time
	amount int32 // kopecks: the order's amount, or the refund's
}

// retentionSample is the state of the stores at the end of a simulated day.
type retentionSample struct {
	day, orders, events int
	usedMemory, keys    int64
	brokerBytes         int64
}

// runRetention is `attrib loadgen retention`: the engine (every component,
// in this process, configured by the usual settings) under a clock that
// runs through o.days simulated days, fed o.orders orders through its
// webhook, with late refunds on old orders. At the end of each simulated
// day, once the engine has caught up, it samples Redis used_memory and the
// broker's bytes; at the end it reports keys and memory per key family,
// and broker and ClickHouse bytes per order. Point it at a Redis of its
// own: every key of the server counts.
func runRetention(ctx context.Context, ec *engineConfig, log *slog.Logger, o *retentionOptions) error {
	if o.orders <= 0 || o.days <= 0 || o.brands <= 0 || o.creators <= 0 || o.holdDays < 0 {
		return errors.New("loadgen retention: --retention-orders, --retention-days, --retention-brands and --retention-creators must be positive")
	}
	rdb, err := openRedis(ctx, ec, 4)
	if err != nil {
		return err
	}
	defer rdb.Close()
	if n, err := rdb.DBSize(ctx).Result(); err != nil || n > 0 {
		return fmt.Errorf("loadgen retention: the Redis of --redis-url must be empty (it has %d keys, %v): every key counts", n, err)
	}
	baseMemory, err := usedMemory(ctx, rdb)
	if err != nil {
		return err
	}
	admin := ec.AdminToken
	if admin == "" {
		admin = "adm_retention_" + strconv.FormatInt(time.Now().UnixNano(), 36)
		ec.AdminToken = admin
	}

	// The simulated days follow the codes' confirmations, which happen at
	// the real time (commands carry the time they were sent).
	sim := &simClock{}
	saved := clock
	clock = sim.now
	defer func() { clock = saved }()

	ectx, stop := context.WithCancel(ctx)
	served := make(chan error, 1)
	go func() { served <- runServe(ectx, ec, log, nil) }()
	defer func() {
		stop()
		if err := <-served; err != nil {
			log.Error("loadgen retention: engine stopped with an error", "err", err)
		}
	}()
	base := localURL(ec.HTTPAddr)
	if err := waitFor(ctx, 2*time.Minute, func(ctx context.Context) error {
		select {
		case err := <-served:
			served <- err
			return fmt.Errorf("engine stopped: %v", err)
		default:
		}
		return getOK(ctx, base+"/readyz")
	}); err != nil {
		return fmt.Errorf("loadgen retention: engine not ready: %w", err)
	}
	c := &demoClient{ctx: ctx, base: base, hc: &http.Client{Timeout: 2 * time.Minute}}
	brands, err := retentionCatalog(c, admin, o)
	if err != nil {
		return fmt.Errorf("loadgen retention: catalog: %w", err)
	}
	// Codes are active from their confirmation: let the catalog projection
	// see them before the first order.
	time.Sleep(3 * time.Second)
	start := time.Now().UTC()

	brokerDir := ""
	if len(ec.KafkaBrokers) == 0 {
		brokerDir = filepath.Join(ec.DataDir, "kafka")
	}
	baseBroker := dirBytes(brokerDir)
	metricsURL := base + "/metrics"

	rng := rand.New(rand.NewSource(o.seed))
	later := make([][]retentionEvent, o.days+1)
	perDay := (o.orders + o.days - 1) / o.days
	placed, sent := 0, 0
	var samples []retentionSample
	var runErr error // a day that failed: the figures stop at the day before
	began := time.Now()
	for day := 0; day < o.days; day++ {
		dayStart := start.Add(time.Duration(day) * 24 * time.Hour)
		var evs []retentionEvent
		for i := 0; i < perDay && placed < o.orders; i++ {
			at := dayStart.Add(time.Duration(rng.Int63n(int64(24 * time.Hour))))
			amount := int32(50_000 + rng.Intn(1_450_000))
			evs = append(evs, retentionEvent{order: int32(placed), kind: 'p', at: at, amount: amount})
			if rng.Intn(retentionConfirmShare) == 0 {
				d := day + 1 + rng.Intn(o.holdDays+1)
				later[min(d, o.days)] = append(later[min(d, o.days)], retentionEvent{order: int32(placed), kind: 'c', amount: amount})
			}
			if rng.Intn(retentionRefundShare) == 0 {
				// Late: from a month to five months after the order.
				d := day + 30 + rng.Intn(120)
				refund := amount * int32(10+rng.Intn(40)) / 100
				later[min(d, o.days)] = append(later[min(d, o.days)], retentionEvent{order: int32(placed), kind: 'r', amount: refund})
			}
			placed++
		}
		for _, e := range later[day] {
			e.at = dayStart.Add(time.Duration(rng.Int63n(int64(24 * time.Hour))))
			evs = append(evs, e)
		}
		later[day] = nil
		sim.advance(dayStart.Add(24 * time.Hour))
		if err := sendRetentionDay(c, brands, evs, sim, rng.Int63()); err != nil {
			runErr = fmt.Errorf("loadgen retention: day %d: %w", day+1, err)
			break
		}
		sent += len(evs)
		if err := waitDrained(ctx, c.hc, metricsURL); err != nil {
			runErr = fmt.Errorf("loadgen retention: day %d: %w", day+1, err)
			break
		}
		mem, err := usedMemory(ctx, rdb)
		if err != nil {
			return err
		}
		keys, err := rdb.DBSize(ctx).Result()
		if err != nil {
			return err
		}
		s := retentionSample{day: day + 1, orders: placed, events: sent, usedMemory: mem - baseMemory, keys: keys,
			brokerBytes: dirBytes(brokerDir) - baseBroker}
		samples = append(samples, s)
		if progressOut != nil {
			fmt.Fprintf(progressOut, "loadgen retention: day %d/%d, %d orders, %d events, redis %d B (%.0f B/order), %d keys, broker %d B, %.0f events/s\n",
				s.day, o.days, s.orders, s.events, s.usedMemory, float64(s.usedMemory)/float64(max(s.orders, 1)), s.keys,
				s.brokerBytes, float64(sent)/time.Since(began).Seconds())
		}
	}
	// The refunds scheduled past the last day are not sent: they would
	// belong to days not simulated.
	if len(samples) == 0 {
		return runErr
	}
	families, err := keyFamilies(ctx, rdb)
	if err != nil {
		return err
	}
	chBytes, chRows, err := clickhouseBytes(ctx, ec)
	if err != nil {
		return err
	}
	if o.curve != "" {
		if err := writeCurve(o.curve, samples); err != nil {
			return err
		}
	}
	printRetention(os.Stdout, o, samples, families, chBytes, chRows, time.Since(began))
	if runErr != nil {
		return fmt.Errorf("%w (the figures printed stop at day %d; the key families and ClickHouse include the day that failed)", runErr, len(samples))
	}
	return nil
}

// retentionBrand is a brand of the scenario and its creators' codes.
type retentionBrand struct {
	id, secret string
	codes      []string
}

// retentionCatalog registers the brands, their offers, the creators and a
// confirmed code of every creator for every offer.
func retentionCatalog(c *demoClient, admin string, o *retentionOptions) ([]retentionBrand, error) {
	brands := make([]retentionBrand, o.brands)
	keys := make([]string, o.brands)
	offers := make([]string, o.brands)
	for i := range brands {
		var b struct {
			BrandID       string `json:"brand_id"`
			APIKey        string `json:"api_key"`
			WebhookSecret string `json:"webhook_secret"`
		}
		if err := c.do("POST", "/v1/brands", admin, map[string]any{"name": fmt.Sprintf("Retention brand %d", i+1)}, nil, 201, &b); err != nil {
			return nil, err
		}
		var off struct {
			OfferID string `json:"offer_id"`
		}
		offer := map[string]any{"name": fmt.Sprintf("Retention offer %d", i+1),
			"payout":    map[string]any{"type": "percent", "value": "10", "currency": "RUB"},
			"countries": []string{"RU"}, "platforms": []string{"instagram"}, "hold_days": o.holdDays}
		if err := c.do("POST", "/v1/offers", b.APIKey, offer, nil, 201, &off); err != nil {
			return nil, err
		}
		brands[i] = retentionBrand{id: b.BrandID, secret: b.WebhookSecret}
		keys[i], offers[i] = b.APIKey, off.OfferID
	}
	for ci := 0; ci < o.creators; ci++ {
		var cr struct {
			Token string `json:"token"`
		}
		body := map[string]any{"name": fmt.Sprintf("Creator %d", ci+1), "email": fmt.Sprintf("retention+%d@example.com", ci+1)}
		if err := c.do("POST", "/v1/creators", admin, body, nil, 201, &cr); err != nil {
			return nil, err
		}
		for bi := range brands {
			var req struct {
				RequestID string `json:"request_id"`
			}
			if err := c.do("POST", "/v1/code-requests", cr.Token, map[string]any{"offer_id": offers[bi], "platform": "instagram"}, nil, 201, &req); err != nil {
				return nil, err
			}
			code := fmt.Sprintf("RET%dC%d", bi+1, ci+1)
			if err := c.do("POST", "/v1/code-requests/"+req.RequestID+"/confirm", keys[bi], map[string]any{"code": code}, nil, 200, nil); err != nil {
				return nil, err
			}
			brands[bi].codes = append(brands[bi].codes, code)
		}
	}
	return brands, nil
}

// sendRetentionDay sends one day's events as the brands' shops would:
// signed batches, several at once, each brand's in time order.
func sendRetentionDay(c *demoClient, brands []retentionBrand, evs []retentionEvent, sim *simClock, seed int64) error {
	slices.SortStableFunc(evs, func(a, b retentionEvent) int { return a.at.Compare(b.at) })
	rng := rand.New(rand.NewSource(seed))
	byBrand := make([][]map[string]any, len(brands))
	for _, e := range evs {
		bi := int(e.order) % len(brands)
		orderID := fmt.Sprintf("R%08d", e.order)
		ev := map[string]any{"event_id": orderID + "-" + string(e.kind), "order_id": orderID,
			"occurred_at": e.at.UTC().Format(demoTime)}
		switch e.kind {
		case 'p':
			ev["type"] = "order.placed"
			codes := []string{}
			if int(e.order)%retentionNoCodeShare != 0 {
				b := brands[bi]
				codes = []string{b.codes[rng.Intn(len(b.codes))]}
			}
			ev["promo_codes"] = codes
			ev["amount"] = kopecks(e.amount)
			ev["currency"] = "RUB"
			ev["country"] = "RU"
		case 'c':
			ev["type"] = "order.confirmed"
		case 'r':
			ev["type"] = "order.refunded"
			ev["refund_amount"] = kopecks(e.amount)
		}
		byBrand[bi] = append(byBrand[bi], ev)
	}
	type job struct {
		brand int
		evs   []map[string]any
	}
	jobs := make(chan job)
	errs := make(chan error, retentionSenders)
	var wg sync.WaitGroup
	for range retentionSenders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				body, err := json.Marshal(map[string]any{"events": j.evs})
				if err == nil {
					b := brands[j.brand]
					header := func() http.Header {
						return http.Header{
							http.CanonicalHeaderKey(ingest.HeaderBrandID):   {b.id},
							http.CanonicalHeaderKey(ingest.HeaderSignature): {ingest.Sign(b.secret, sim.now(), body)},
						}
					}
					err = c.do("POST", "/v1/webhooks/orders", "", body, header, 202, nil)
				}
				if err != nil {
					select {
					case errs <- err:
					default:
					}
				}
			}
		}()
	}
	// Batches may overtake one another: an order's later events are
	// always on a later day than its placement.
	for bi, list := range byBrand {
		for len(list) > 0 {
			n := min(retentionBatch, len(list))
			jobs <- job{brand: bi, evs: list[:n]}
			list = list[n:]
		}
	}
	close(jobs)
	wg.Wait()
	select {
	case err := <-errs:
		return err
	default:
		return nil
	}
}

func kopecks(k int32) string { return fmt.Sprintf("%d.%02d", k/100, k%100) }

func getOK(ctx context.Context, url string) error {
	req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", url, resp.Status)
	}
	return nil
}

// waitDrained waits until every consumer group of the order and
// attribution topics has read as many events of them as were appended
// (the engine's own counters, from /metrics), twice in a row: the engine
// has caught up. (The catalog topic is left out: the ClickHouse projector
// counts fewer of its events than there are, whatever it has read.)
func waitDrained(ctx context.Context, hc *http.Client, url string) error {
	deadline := time.Now().Add(10 * time.Minute)
	calm := 0
	for {
		ok, err := drained(ctx, hc, url)
		if err != nil {
			return err
		}
		if ok {
			if calm++; calm == 2 {
				return nil
			}
		} else {
			calm = 0
		}
		if time.Now().After(deadline) {
			return errors.New("the engine did not catch up within 10 minutes")
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(300 * time.Millisecond):
		}
	}
}

func drained(ctx context.Context, hc *http.Client, url string) (bool, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
	if err != nil {
		return false, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	appended := map[string]float64{}
	consumed := map[[2]string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "attrib_eventstore_append_events_total{"):
			labels, v := metricLine(line)
			appended[labels["topic"]] = v
		case strings.HasPrefix(line, "attrib_eventstore_consumer_events_total{"):
			labels, v := metricLine(line)
			consumed[[2]string{labels["group"], labels["topic"]}] += v
		}
	}
	if err := sc.Err(); err != nil {
		return false, err
	}
	for gt, n := range consumed {
		if (gt[1] == schemas.TopicOrders || gt[1] == schemas.TopicAttributions) && n < appended[gt[1]] {
			return false, nil
		}
	}
	return true, nil
}

// metricLine parses `name{a="x",b="y"} value` of the Prometheus text format
// (label values without escapes, as the engine's are).
func metricLine(line string) (map[string]string, float64) {
	labels := map[string]string{}
	open, end := strings.IndexByte(line, '{'), strings.LastIndexByte(line, '}')
	if open < 0 || end < open {
		return labels, 0
	}
	for _, kv := range strings.Split(line[open+1:end], ",") {
		k, v, ok := strings.Cut(kv, "=")
		if ok {
			labels[k] = strings.Trim(v, `"`)
		}
	}
	v, _ := strconv.ParseFloat(strings.TrimSpace(line[end+1:]), 64)
	return labels, v
}

func usedMemory(ctx context.Context, rdb redis.UniversalClient) (int64, error) {
	info, err := rdb.Info(ctx, "memory").Result()
	if err != nil {
		return 0, fmt.Errorf("redis INFO memory: %w", err)
	}
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "used_memory:"); ok {
			return strconv.ParseInt(v, 10, 64)
		}
	}
	return 0, errors.New("redis INFO memory: no used_memory")
}

// dirBytes is the size of the files under dir (0 for "").
func dirBytes(dir string) int64 {
	if dir == "" {
		return 0
	}
	var n int64
	_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if info, err := d.Info(); err == nil {
				n += info.Size()
			}
		}
		return nil
	})
	return n
}

// keyFamily is the keys of one family (their first two ':'-separated
// parts) and their memory, estimated from a sample.
type keyFamily struct {
	name         string
	keys         int64
	sampledBytes int64
	sampled      int64
}

func (f keyFamily) bytes() int64 {
	if f.sampled == 0 {
		return 0
	}
	return f.sampledBytes * f.keys / f.sampled
}

// keyFamilies counts every key of the server by family, and MEMORY USAGE of
// up to 200 keys of each.
func keyFamilies(ctx context.Context, rdb redis.UniversalClient) ([]keyFamily, error) {
	byName := map[string]*keyFamily{}
	iter := rdb.Scan(ctx, 0, "*", 1000).Iterator()
	for iter.Next(ctx) {
		k := iter.Val()
		name := k
		if i := strings.IndexByte(k, ':'); i >= 0 {
			if j := strings.IndexByte(k[i+1:], ':'); j >= 0 {
				name = k[:i+1+j]
			}
		}
		f := byName[name]
		if f == nil {
			f = &keyFamily{name: name}
			byName[name] = f
		}
		f.keys++
		if f.sampled < 200 {
			n, err := rdb.MemoryUsage(ctx, k).Result()
			if err == nil {
				f.sampled++
				f.sampledBytes += n
			}
		}
	}
	if err := iter.Err(); err != nil {
		return nil, fmt.Errorf("redis SCAN: %w", err)
	}
	out := make([]keyFamily, 0, len(byName))
	for _, f := range byName {
		out = append(out, *f)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].bytes() > out[j].bytes() })
	return out, nil
}

// clickhouseBytes is the compressed bytes on disk and the rows of the
// active parts of the engine's database.
func clickhouseBytes(ctx context.Context, ec *engineConfig) (bytes, rows uint64, err error) {
	opts := *ec.ClickHouse
	conn, err := clickhouse.Open(&opts)
	if err != nil {
		return 0, 0, err
	}
	defer conn.Close()
	err = conn.QueryRow(ctx, "SELECT sum(bytes_on_disk), sum(rows) FROM system.parts WHERE active AND database = ?",
		opts.Auth.Database).Scan(&bytes, &rows)
	if err != nil {
		return 0, 0, fmt.Errorf("clickhouse bytes of %s: %w", opts.Auth.Database, err)
	}
	return bytes, rows, nil
}

func writeCurve(path string, samples []retentionSample) error {
	var b strings.Builder
	b.WriteString("day,orders,events,redis_used_memory,redis_keys,broker_bytes\n")
	for _, s := range samples {
		fmt.Fprintf(&b, "%d,%d,%d,%d,%d,%d\n", s.day, s.orders, s.events, s.usedMemory, s.keys, s.brokerBytes)
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

// printRetention writes the run's figures as Markdown tables.
func printRetention(w io.Writer, o *retentionOptions, samples []retentionSample, families []keyFamily, chBytes, chRows uint64, took time.Duration) {
	last := samples[len(samples)-1]
	per := func(n int64) float64 { return float64(n) / float64(max(last.orders, 1)) }
	fmt.Fprintf(w, "\n%d orders, %d shop events over %d of %d simulated days in %s\n\n", last.orders, last.events, last.day, o.days, took.Round(time.Second))
	fmt.Fprintln(w, "| measure | total | per order |")
	fmt.Fprintln(w, "|---|---:|---:|")
	fmt.Fprintf(w, "| Redis used_memory | %d B | %.0f B |\n", last.usedMemory, per(last.usedMemory))
	fmt.Fprintf(w, "| Redis keys | %d | %.2f |\n", last.keys, per(last.keys))
	fmt.Fprintf(w, "| broker log on disk | %d B | %.0f B |\n", last.brokerBytes, per(last.brokerBytes))
	fmt.Fprintf(w, "| ClickHouse parts on disk (%d rows) | %d B | %.0f B |\n", chRows, chBytes, per(int64(chBytes)))
	fmt.Fprintln(w, "\n| key family | keys | bytes (MEMORY USAGE, sampled) | bytes per key |")
	fmt.Fprintln(w, "|---|---:|---:|---:|")
	for _, f := range families {
		fmt.Fprintf(w, "| `%s` | %d | %d | %.0f |\n", f.name, f.keys, f.bytes(), float64(f.bytes())/float64(max(f.keys, 1)))
	}
	fmt.Fprintln(w, "\n| day | orders | Redis used_memory | per order | keys | broker bytes |")
	fmt.Fprintln(w, "|---:|---:|---:|---:|---:|---:|")
	step := max(len(samples)/12, 1)
	for i, s := range samples {
		if i%step == step-1 || i == len(samples)-1 {
			fmt.Fprintf(w, "| %d | %d | %d | %.0f | %d | %d |\n", s.day, s.orders, s.usedMemory,
				float64(s.usedMemory)/float64(max(s.orders, 1)), s.keys, s.brokerBytes)
		}
	}
}
