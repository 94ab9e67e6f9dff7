package e2eload

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/attrib-engine/attrib/ingest"
)

// Creator is a registered creator whose report the driver reads.
type Creator struct {
	ID, Token string
}

// Config configures Run. Zero fields take the defaults named.
type Config struct {
	// URL is the engine's base URL, e.g. http://127.0.0.1:8080. Required.
	URL string
	// Brands and Creators of the run, registered with their codes
	// confirmed before Run; every code's Creator indexes Creators.
	Brands   []Brand
	Creators []Creator
	// Run prefixes order and event ids. Required.
	Run  string
	Mix  Mix
	Seed int64
	// Rate is orders placed per second; 0 sends as fast as the engine
	// takes them.
	Rate float64
	// Duration of the sending; then the follow-ups still due are sent at
	// once. Default 1 minute.
	Duration time.Duration
	// Batch is the most events per webhook request (the API takes up to
	// 1000). Default 200.
	Batch int
	// Linger is how long a brand's events wait for its batch to fill
	// before they go anyway. Default 50 ms.
	Linger time.Duration
	// FollowMin and FollowMax bound the delay between an order's first
	// events and its later ones (uniform). Default 1 s and 5 s.
	FollowMin, FollowMax time.Duration
	// Senders is how many requests are in flight at most. Default 8.
	Senders int
	// FinalWait bounds the wait, after the last 202, for the reports to
	// hold everything. Default 2 minutes.
	FinalWait time.Duration
	// MaxBehind: at a fixed Rate, when the placements generated but not
	// yet answered 202 stand for more than this much time at the rate,
	// the engine does not sustain the rate: no new orders are generated
	// from then on (the backlog is still sent). Default 10 s.
	MaxBehind time.Duration
	// Procs names processes whose CPU to measure (pid > 0); the
	// generator itself is added as "generator".
	Procs map[string]int
	// Progress receives a line a second; nil: none.
	Progress io.Writer
	Client   *http.Client
}

func (c *Config) defaults() error {
	if c.URL == "" || c.Run == "" || len(c.Brands) == 0 || len(c.Creators) == 0 {
		return errors.New("e2eload: URL, Run, Brands and Creators are required")
	}
	if c.Rate < 0 {
		return fmt.Errorf("e2eload: rate %v: want 0 (as fast as possible) or more", c.Rate)
	}
	if c.Duration <= 0 {
		c.Duration = time.Minute
	}
	if c.Batch <= 0 {
		c.Batch = 200
	}
	if c.Batch > 1000 {
		return fmt.Errorf("e2eload: batch %d: the webhook takes at most 1000 events", c.Batch)
	}
	if c.Linger <= 0 {
		c.Linger = 50 * time.Millisecond
	}
	if c.FollowMin <= 0 {
		c.FollowMin = time.Second
	}
	if c.FollowMax < c.FollowMin {
		c.FollowMax = max(c.FollowMin, 5*time.Second)
	}
	if c.Senders <= 0 {
		c.Senders = 8
	}
	if c.FinalWait <= 0 {
		c.FinalWait = 2 * time.Minute
	}
	if c.MaxBehind <= 0 {
		c.MaxBehind = 10 * time.Second
	}
	if c.Client == nil {
		c.Client = &http.Client{Timeout: time.Minute, Transport: &http.Transport{
			MaxIdleConnsPerHost: c.Senders + 4, DisableCompression: true}}
	}
	return nil
}

// Result is what a run measured.
type Result struct {
	Config Config
	// Start is the first send, End the last 202, Visible when the reports
	// were first seen holding everything (zero: never, within FinalWait).
	Start, End, Visible time.Time
	Orders, Events      int64 // generated orders; events sent, duplicates included
	DupsSent            int64
	Unattributed        int64
	// Accepted and Duplicates sum the engine's 202 answers.
	Accepted, Duplicates int64
	Requests             int64
	Retried429           int64
	RetriedErrors        int64
	Refused              int64 // requests answered with another 4xx (a bug of the generator or the engine)
	// FellBehind is when, from Start, the engine fell MaxBehind behind the
	// fixed rate and generation stopped; zero when it kept up.
	FellBehind time.Duration
	FirstError string
	// Send is the 202's latency (send to answer), Visibility from the 202
	// to the reports holding the events; both per event.
	Send, Visibility Distribution
	// WindowRates are the orders that became visible per second in each
	// whole 10-second window from Start.
	WindowRates []float64
	Polls       int
	// Probes: orders read back one by one with all their events in;
	// ProbeErrors lists the ones whose row differed.
	Probes      int
	ProbeErrors []string
	// CPU used from Start to Visible (or the end of the wait), per process.
	CPU      map[string]time.Duration
	CPUError map[string]string
	// Checked is how many creators' totals were compared (none when the
	// reports never held everything); Mismatches lists every difference
	// ("creator i: ...").
	Checked    int
	Mismatches []string
}

// Lost reports whether the run failed its check: a report total differs, a
// read-back order differs, or the reports never held everything.
func (r *Result) Lost() bool {
	return len(r.Mismatches) > 0 || len(r.ProbeErrors) > 0 || r.Visible.IsZero()
}

// item is an event on its way, with the probe its order becomes once it is
// sent (only on the order's last event).
type item struct {
	ev    Event
	probe *probe
}

// probe is an order to read back from its creator's report once the
// reports are fresh as of its last 202.
type probe struct {
	order   string
	outcome Outcome
	placed  time.Time
	ack     time.Time
}

// batch is one webhook request's events.
type batch struct {
	brand  int
	events [][]byte
	placed int
	dups   int
	probe  *probe
}

// Run sends the stream to the engine and measures it; it returns once the
// reports hold everything (or FinalWait ran out) and the totals have been
// compared. An error means the run could not be measured at all.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	d := &driver{cfg: cfg, res: &Result{Config: cfg, CPU: map[string]time.Duration{}, CPUError: map[string]string{}},
		exp: NewExpected(len(cfg.Creators)), batches: make(chan *batch, 2*cfg.Senders)}
	return d.run(ctx)
}

type driver struct {
	cfg Config
	res *Result
	exp *Expected

	batches chan *batch

	mu    sync.Mutex
	acks  []Ack
	polls []Poll

	latestProbe atomic.Pointer[probe]
	lastAsOf    atomic.Int64 // unix nanos of the newest Fresh-As-Of
	acked       atomic.Int64 // events
	ackedOrders atomic.Int64
	requests    atomic.Int64
	r429, rErr  atomic.Int64
	refused     atomic.Int64
	accepted    atomic.Int64
	dupAnswers  atomic.Int64
	firstErr    atomic.Pointer[string]
}

func (d *driver) run(ctx context.Context) (*Result, error) {
	cfg, res := d.cfg, d.res
	cpu0 := d.cpu()
	res.Start = time.Now()

	var senders sync.WaitGroup
	for i := 0; i < cfg.Senders; i++ {
		senders.Add(1)
		go func() { defer senders.Done(); d.send(ctx) }()
	}
	pollCtx, stopPolls := context.WithCancel(ctx)
	polled := make(chan struct{})
	go func() { defer close(polled); d.poll(pollCtx) }()
	progressCtx, stopProgress := context.WithCancel(ctx)
	progressed := make(chan struct{})
	go func() { defer close(progressed); d.progress(progressCtx) }()

	d.produce(ctx)
	senders.Wait()
	d.mu.Lock()
	for _, a := range d.acks {
		if a.At.After(res.End) {
			res.End = a.At
		}
	}
	d.mu.Unlock()

	// Wait until a report is fresh as of the last 202.
	deadline := time.Now().Add(cfg.FinalWait)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if d.lastAsOf.Load() >= res.End.UnixNano() {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	stopPolls()
	<-polled
	stopProgress()
	<-progressed
	cpu1 := d.cpu()
	for name, t0 := range cpu0 {
		if t1, ok := cpu1[name]; ok {
			res.CPU[name] = t1 - t0
		}
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}

	d.mu.Lock()
	acks, polls := d.acks, d.polls
	d.mu.Unlock()
	sort.Slice(acks, func(i, j int) bool { return acks[i].At.Before(acks[j].At) })
	vis := Visible(acks, polls)
	send := make([]Sample, 0, len(acks))
	seen := make([]Sample, 0, len(acks))
	for i, a := range acks {
		send = append(send, Sample{D: a.At.Sub(a.Sent), Weight: int64(a.Events)})
		if vis[i].IsZero() {
			continue
		}
		seen = append(seen, Sample{D: vis[i].Sub(a.At), Weight: int64(a.Events)})
		if vis[i].After(res.Visible) {
			res.Visible = vis[i]
		}
	}
	res.Send, res.Visibility = Summarize(send), Summarize(seen)
	for i, v := range vis {
		if v.IsZero() {
			res.Visibility.Uncovered += int64(acks[i].Events)
			res.Visible = time.Time{}
		}
	}
	if len(vis) > 0 && !res.Visible.IsZero() {
		res.WindowRates = WindowRates(acks, vis, res.Start, 10*time.Second)
	}
	res.Polls = len(polls)
	res.Requests, res.Retried429, res.RetriedErrors = d.requests.Load(), d.r429.Load(), d.rErr.Load()
	res.Refused, res.Accepted, res.Duplicates = d.refused.Load(), d.accepted.Load(), d.dupAnswers.Load()
	if p := d.firstErr.Load(); p != nil {
		res.FirstError = *p
	}
	res.Unattributed = d.exp.Unattributed
	if !res.Visible.IsZero() {
		d.check(ctx) // totals read before then would only show the lag
	}
	return res, nil
}

// cpu samples the processes' CPU times.
func (d *driver) cpu() map[string]time.Duration {
	out := map[string]time.Duration{}
	procs := map[string]int{"generator": 0}
	for n, p := range d.cfg.Procs {
		if p > 0 {
			procs[n] = p
		}
	}
	for n, p := range procs {
		t, err := CPUTime(p)
		if err != nil {
			d.res.CPUError[n] = err.Error()
			continue
		}
		out[n] = t
	}
	return out
}

// produce generates the orders at the configured rate (or as fast as the
// senders take batches), batches every brand's events, and closes the
// batches channel once everything, the follow-ups included, is handed on.
func (d *driver) produce(ctx context.Context) {
	cfg := d.cfg
	defer close(d.batches)
	stream := NewStream(cfg.Run, cfg.Brands, cfg.Mix, cfg.Seed)
	const tick = 5 * time.Millisecond
	wheel := map[int64][]item{} // due tick -> items
	pending := make([][]item, len(cfg.Brands))
	since := make([]time.Time, len(cfg.Brands))
	start := d.res.Start
	spread := int64(cfg.FollowMax - cfg.FollowMin)
	rng := newSplitMix(uint64(cfg.Seed) + 1)

	add := func(b int, it item, now time.Time) {
		if len(pending[b]) == 0 {
			since[b] = now
		}
		pending[b] = append(pending[b], it)
	}
	flush := func(b int, force bool, now time.Time) bool {
		for len(pending[b]) > 0 && (len(pending[b]) >= cfg.Batch || force || now.Sub(since[b]) >= cfg.Linger) {
			n := min(cfg.Batch, len(pending[b]))
			bt := &batch{brand: b, events: make([][]byte, 0, n)}
			for _, it := range pending[b][:n] {
				bt.events = append(bt.events, it.ev.JSON)
				if it.ev.Placed && !it.ev.Dup {
					bt.placed++
				}
				if it.ev.Dup {
					bt.dups++
				}
				if it.probe != nil {
					bt.probe = it.probe
				}
			}
			pending[b] = append(pending[b][:0], pending[b][n:]...)
			since[b] = now
			select {
			case d.batches <- bt:
			case <-ctx.Done():
				return false
			}
		}
		return true
	}
	gen := func(now time.Time) {
		o := stream.Next(now)
		d.exp.Add(o.Outcome)
		d.res.Orders++
		var last *Event
		if len(o.Later) > 0 {
			last = &o.Later[len(o.Later)-1]
		} else {
			last = &o.Now[len(o.Now)-1]
		}
		var p *probe
		if o.Outcome.Creator >= 0 {
			p = &probe{order: o.ID, outcome: o.Outcome, placed: now}
		}
		for i := range o.Now {
			it := item{ev: o.Now[i]}
			if &o.Now[i] == last {
				it.probe = p
			}
			add(o.Brand, it, now)
		}
		if len(o.Later) > 0 {
			due := now.Add(cfg.FollowMin)
			if spread > 0 {
				due = due.Add(time.Duration(rng.next() % uint64(spread)))
			}
			k := due.Sub(start).Nanoseconds() / int64(tick)
			for i := range o.Later {
				it := item{ev: o.Later[i]}
				if &o.Later[i] == last {
					it.probe = p
				}
				wheel[k] = append(wheel[k], it)
			}
		}
		for _, e := range o.Now {
			d.res.Events++
			if e.Dup {
				d.res.DupsSent++
			}
		}
		for _, e := range o.Later {
			d.res.Events++
			if e.Dup {
				d.res.DupsSent++
			}
		}
	}
	var made int64
	var nextTick int64
	end := start.Add(cfg.Duration)
	for ctx.Err() == nil {
		now := time.Now()
		if !now.Before(end) {
			break
		}
		if cfg.Rate > 0 {
			want := int64(cfg.Rate * now.Sub(start).Seconds())
			limit := d.ackedOrders.Load() + int64(cfg.Rate*cfg.MaxBehind.Seconds())
			for ; made < want && made < limit; made++ {
				gen(now)
			}
			if made < want {
				d.res.FellBehind = now.Sub(start)
				break
			}
		} else {
			for i := 0; i < cfg.Batch; i++ {
				gen(now)
			}
			made += int64(cfg.Batch)
		}
		k := now.Sub(start).Nanoseconds() / int64(tick)
		for ; nextTick <= k; nextTick++ {
			for _, it := range wheel[nextTick] {
				add(d.brandOf(it), it, now)
			}
			delete(wheel, nextTick)
		}
		for b := range pending {
			if !flush(b, false, now) {
				return
			}
		}
		if cfg.Rate > 0 {
			select {
			case <-ctx.Done():
				return
			case <-time.After(tick - time.Since(now)%tick):
			}
		}
	}
	// The follow-ups still due go now, in the order they were due.
	keys := make([]int64, 0, len(wheel))
	for k := range wheel {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i] < keys[j] })
	now := time.Now()
	for _, k := range keys {
		for _, it := range wheel[k] {
			add(d.brandOf(it), it, now)
		}
	}
	for b := range pending {
		if !flush(b, true, now) {
			return
		}
	}
}

// brandOf is the brand whose shop sends the item.
func (d *driver) brandOf(it item) int { return it.ev.Brand }

// send posts batches until the channel closes.
func (d *driver) send(ctx context.Context) {
	var body bytes.Buffer
	for bt := range d.batches {
		body.Reset()
		body.WriteString(`{"events":[`)
		for i, e := range bt.events {
			if i > 0 {
				body.WriteByte(',')
			}
			body.Write(e)
		}
		body.WriteString(`]}`)
		raw := body.Bytes()
		b := d.cfg.Brands[bt.brand]
		sent := time.Now()
		for attempt := 0; ctx.Err() == nil; attempt++ {
			req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.cfg.URL+"/v1/webhooks/orders", bytes.NewReader(raw))
			if err != nil {
				d.fail(err.Error())
				return
			}
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set(ingest.HeaderBrandID, b.ID)
			req.Header.Set(ingest.HeaderSignature, ingest.Sign(b.Secret, time.Now(), raw))
			d.requests.Add(1)
			resp, err := d.cfg.Client.Do(req)
			if err != nil {
				d.rErr.Add(1)
				d.fail(err.Error())
				sleep(ctx, 200*time.Millisecond)
				continue
			}
			answer, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
			resp.Body.Close()
			switch {
			case resp.StatusCode == http.StatusAccepted:
				at := time.Now()
				var a struct {
					Accepted   int64 `json:"accepted"`
					Duplicates int64 `json:"duplicates"`
				}
				_ = json.Unmarshal(answer, &a)
				d.accepted.Add(a.Accepted)
				d.dupAnswers.Add(a.Duplicates)
				d.mu.Lock()
				d.acks = append(d.acks, Ack{Sent: sent, At: at, Events: len(bt.events), Placed: bt.placed})
				d.mu.Unlock()
				d.acked.Add(int64(len(bt.events)))
				d.ackedOrders.Add(int64(bt.placed))
				if bt.probe != nil {
					bt.probe.ack = at
					d.latestProbe.Store(bt.probe)
				}
			case resp.StatusCode == http.StatusTooManyRequests:
				d.r429.Add(1)
				wait := time.Second
				if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
					wait = time.Duration(s) * time.Second
				}
				sleep(ctx, wait)
				continue
			case resp.StatusCode >= 500:
				d.rErr.Add(1)
				d.fail(fmt.Sprintf("webhook: %s %s", resp.Status, answer))
				sleep(ctx, 200*time.Millisecond)
				continue
			default:
				d.refused.Add(1)
				d.fail(fmt.Sprintf("webhook: %s %s", resp.Status, answer))
			}
			break
		}
	}
}

func (d *driver) fail(msg string) {
	d.firstErr.CompareAndSwap(nil, &msg)
}

func sleep(ctx context.Context, t time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(t):
	}
}

// reportPage is the part of GET /v1/reports/orders the driver reads.
type reportPage struct {
	Orders []struct {
		OrderID          string `json:"order_id"`
		Status           string `json:"status"`
		Earnings         string `json:"earnings"`
		EarningsCurrency string `json:"earnings_currency"`
	} `json:"orders"`
	Totals struct {
		Orders   int64             `json:"orders"`
		Earnings map[string]string `json:"earnings"`
	} `json:"totals"`
}

// report reads one page of a creator's report, and its Fresh-As-Of.
func (d *driver) report(ctx context.Context, token string, q url.Values) (*reportPage, time.Time, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, d.cfg.URL+"/v1/reports/orders?"+q.Encode(), nil)
	if err != nil {
		return nil, time.Time{}, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := d.cfg.Client.Do(req)
	if err != nil {
		return nil, time.Time{}, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, time.Time{}, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, time.Time{}, fmt.Errorf("GET /v1/reports/orders?%s: %s %s", q.Encode(), resp.Status, raw)
	}
	var asOf time.Time
	if h := resp.Header.Get("X-Attrib-Fresh-As-Of"); h != "" {
		asOf, _ = time.Parse(time.RFC3339Nano, h)
	}
	var page reportPage
	if err := json.Unmarshal(raw, &page); err != nil {
		return nil, time.Time{}, fmt.Errorf("GET /v1/reports/orders: %w", err)
	}
	return &page, asOf, nil
}

// poll reads a creator's report back to back until ctx ends: each read
// waits in the engine until the reports are fresh as of its arrival, and
// its Fresh-As-Of dates what is visible. Each read asks for the latest
// probe's order, and checks it once the reports are fresh as of its 202.
func (d *driver) poll(ctx context.Context) {
	var p *probe
	for ctx.Err() == nil {
		if p == nil {
			p = d.latestProbe.Load()
		}
		q := url.Values{"limit": {"1"}}
		token := d.cfg.Creators[0].Token
		if p != nil {
			// The placed time narrows the read to a few rows of the
			// creator's (their orders are sorted by it), where the order id
			// alone reads all of them: the polls are the generator's, not a
			// load to measure.
			q.Set("order_id", p.order)
			q.Set("from", p.placed.Add(-time.Second).UTC().Format(time.RFC3339))
			q.Set("to", p.placed.Add(2*time.Second).UTC().Format(time.RFC3339))
			token = d.cfg.Creators[p.outcome.Creator].Token
		} else {
			q.Set("order_id", "none")
		}
		asked := time.Now()
		page, asOf, err := d.report(ctx, token, q)
		at := time.Now()
		if err != nil {
			if ctx.Err() == nil {
				d.fail(err.Error())
				sleep(ctx, 100*time.Millisecond)
			}
			continue
		}
		if asOf.IsZero() {
			continue
		}
		d.mu.Lock()
		if n := len(d.polls); n == 0 || !asOf.Before(d.polls[n-1].AsOf) {
			d.polls = append(d.polls, Poll{AsOf: asOf, At: at})
		}
		d.mu.Unlock()
		d.lastAsOf.Store(asOf.UnixNano())
		if p != nil && !asOf.Before(p.ack) {
			d.res.Probes++
			if msg := probeDiff(p, page); msg != "" && len(d.res.ProbeErrors) < 20 {
				d.res.ProbeErrors = append(d.res.ProbeErrors, msg)
			}
			p = nil
			continue
		}
		// Not fresh as of the probe, answered without the engine's wait
		// (it says so when its projection looks stalled): read again a
		// little later rather than at once, so that the generator's reads
		// do not become the load that keeps the reports behind.
		if at.Sub(asked) < stalledPollAnswer {
			sleep(ctx, stalledPollPause)
		}
	}
}

// stalledPollAnswer: a report that answered faster than this without
// being fresh did not wait in the engine; stalledPollPause is how long
// the poller then rests, the resolution it gives up on the latency.
const (
	stalledPollAnswer = 100 * time.Millisecond
	stalledPollPause  = 200 * time.Millisecond
)

// probeDiff says how the report's row differs from the probe's outcome.
func probeDiff(p *probe, page *reportPage) string {
	if len(page.Orders) != 1 || page.Orders[0].OrderID != p.order {
		return fmt.Sprintf("order %s: not in creator %d's report, which is fresh as of its last 202", p.order, p.outcome.Creator)
	}
	o := page.Orders[0]
	e, err := ParseMinor(o.Earnings)
	if o.Status != p.outcome.Status || err != nil || e != p.outcome.Earnings || o.EarningsCurrency != p.outcome.Currency {
		return fmt.Sprintf("order %s: got %s %s %s, want %s %s %s", p.order, o.Status, o.Earnings, o.EarningsCurrency,
			p.outcome.Status, appendMinor(nil, p.outcome.Earnings), p.outcome.Currency)
	}
	return ""
}

// check compares every creator's report totals with the expected ones.
func (d *driver) check(ctx context.Context) {
	jobs := make(chan int)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				got, err := d.totals(ctx, d.cfg.Creators[i].Token)
				mu.Lock()
				d.res.Checked++
				if err != nil {
					d.res.Mismatches = append(d.res.Mismatches, fmt.Sprintf("creator %d: %v", i, err))
				}
				for _, m := range Diff(d.exp.Creators[i], got) {
					d.res.Mismatches = append(d.res.Mismatches, fmt.Sprintf("creator %d: %s", i, m))
				}
				mu.Unlock()
			}
		}()
	}
	for i := range d.cfg.Creators {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	sort.Strings(d.res.Mismatches)
}

// totals reads a creator's totals: all orders, then each status's count.
func (d *driver) totals(ctx context.Context, token string) (Totals, error) {
	t := Totals{ByStatus: map[string]int64{}, Earnings: map[string]int64{}}
	page, _, err := d.report(ctx, token, url.Values{"limit": {"1"}})
	if err != nil {
		return t, err
	}
	t.Orders = page.Totals.Orders
	for c, s := range page.Totals.Earnings {
		v, err := ParseMinor(s)
		if err != nil {
			return t, err
		}
		t.Earnings[c] = v
	}
	for _, s := range []string{StatusPending, StatusApproved, StatusRejected} {
		page, _, err := d.report(ctx, token, url.Values{"limit": {"1"}, "status": {s}})
		if err != nil {
			return t, err
		}
		t.ByStatus[s] = page.Totals.Orders
	}
	return t, nil
}

// progress prints a line a second.
func (d *driver) progress(ctx context.Context) {
	if d.cfg.Progress == nil {
		return
	}
	t := time.NewTicker(time.Second)
	defer t.Stop()
	var lastEvents, lastOrders int64
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			ev, or := d.acked.Load(), d.ackedOrders.Load()
			lag := "-"
			if a := d.lastAsOf.Load(); a > 0 {
				lag = now.Sub(time.Unix(0, a)).Round(10 * time.Millisecond).String()
			}
			fmt.Fprintf(d.cfg.Progress, "loadgen webhook %s: %5.0fs acked %d orders (%d/s), %d events (%d/s), reports behind %s, 429 %d, errors %d\n",
				d.cfg.Run, now.Sub(d.res.Start).Seconds(), or, or-lastOrders, ev, ev-lastEvents, lag, d.r429.Load(), d.rErr.Load()+d.refused.Load())
			lastEvents, lastOrders = ev, or
		}
	}
}

// splitMix is a tiny generator for the follow-up delays, apart from the
// stream's own so that the stream stays the same whatever the pacing.
type splitMix struct{ s uint64 }

func newSplitMix(seed uint64) *splitMix { return &splitMix{s: seed} }

func (m *splitMix) next() uint64 {
	m.s += 0x9e3779b97f4a7c15
	z := m.s
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}
