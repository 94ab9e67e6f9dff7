package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/shopspring/decimal"

	"github.com/attrib-engine/attrib/attribution/worker"
	"github.com/attrib-engine/attrib/commands"
	"github.com/attrib-engine/attrib/eventstore"
	"github.com/attrib-engine/attrib/ingest"
	"github.com/attrib-engine/attrib/internal/testenv"
	"github.com/attrib-engine/attrib/notify"
	"github.com/attrib-engine/attrib/projections/chproj"
	"github.com/attrib-engine/attrib/projections/rediscatalog"
	"github.com/attrib-engine/attrib/schemas"
)

// asAttribEnv, set to 1 in a process's environment, makes the test binary
// run its arguments as the attrib binary would (see TestMain), so that a
// test starts engine processes without building the binary first.
const asAttribEnv = "ATTRIB_TEST_RUN_AS_ATTRIB"

func TestMain(m *testing.M) {
	if os.Getenv(asAttribEnv) == "1" {
		if os.Getenv("GOGC") == "" {
			debug.SetGCPercent(defaultGCPercent)
		}
		os.Exit(run(os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// osProcess is one attrib subcommand run as an OS process of its own, by
// the test binary (asAttribEnv). Its output, over every start, is kept for
// the test's failure messages.
type osProcess struct {
	t    *testing.T
	name string
	args []string
	// base is the process's HTTP address (http://host:port); empty for the
	// broker.
	base   string
	out    syncBuffer
	cmd    *exec.Cmd
	exited chan struct{}
	starts int
}

// startProcess starts `attrib <args>`; the process is killed when the test
// ends, unless stop or kill ended it before.
func startProcess(t *testing.T, name, httpAddr string, args ...string) *osProcess {
	t.Helper()
	p := &osProcess{t: t, name: name, args: args}
	if httpAddr != "" {
		p.base = "http://" + httpAddr
	}
	t.Cleanup(func() {
		if p.running() {
			p.kill()
		}
		if t.Failed() {
			t.Logf("output of %s (last 6000 bytes):\n%s", p.name, tail(p.out.String(), 6000))
		}
	})
	p.start()
	return p
}

// start starts the process (again).
func (p *osProcess) start() {
	p.t.Helper()
	cmd := exec.Command(os.Args[0], p.args...)
	// The environment without the ATTRIB_ settings of the test's shell:
	// every setting the process gets is a flag of p.args.
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "ATTRIB_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, asAttribEnv+"=1")
	p.starts++
	fmt.Fprintf(&p.out, "==== %s: start %d: attrib %s\n", p.name, p.starts, strings.Join(p.args, " "))
	cmd.Stdout, cmd.Stderr = &p.out, &p.out
	cmd.SysProcAttr = childProcAttr()
	if err := cmd.Start(); err != nil {
		p.t.Fatalf("start %s: %v", p.name, err)
	}
	p.cmd, p.exited = cmd, make(chan struct{})
	go func(cmd *exec.Cmd, exited chan struct{}) {
		_ = cmd.Wait()
		close(exited)
	}(cmd, p.exited)
}

func (p *osProcess) running() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// kill ends the process with SIGKILL: no shutdown, nothing flushed or
// committed, as a crash of the process or its machine.
func (p *osProcess) kill() {
	_ = p.cmd.Process.Kill()
	<-p.exited
	fmt.Fprintf(&p.out, "==== %s: killed -9\n", p.name)
}

// signal sends sig to the process.
func (p *osProcess) signal(sig syscall.Signal) {
	p.t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		p.t.Fatalf("%s: %v: %v", p.name, sig, err)
	}
	fmt.Fprintf(&p.out, "==== %s: %v\n", p.name, sig)
}

// stop ends the process with SIGTERM and fails the test unless it exits 0
// within 30 s.
func (p *osProcess) stop() {
	p.t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
		if code := p.cmd.ProcessState.ExitCode(); code != 0 {
			p.t.Errorf("%s exited %d after SIGTERM", p.name, code)
		}
	case <-time.After(30 * time.Second):
		p.t.Errorf("%s did not stop within 30 s of SIGTERM", p.name)
		p.kill()
	}
}

// waitReady waits until the process answers /readyz with 200.
func (p *osProcess) waitReady(timeout time.Duration) {
	p.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		resp, err := http.Get(p.base + "/readyz")
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		if !p.running() {
			p.t.Fatalf("%s exited %d before it was ready", p.name, p.cmd.ProcessState.ExitCode())
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("%s not ready within %v (last error %v)", p.name, timeout, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// metric sums the samples of the metric name on the process's /metrics
// whose labels contain every one of labels (such as `group="x"`).
func (p *osProcess) metric(name string, labels ...string) (float64, error) {
	resp, err := http.Get(p.base + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return 0, fmt.Errorf("GET %s/metrics = %d", p.base, resp.StatusCode)
	}
	var sum float64
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		rest, ok := strings.CutPrefix(line, name)
		if !ok || (rest != "" && rest[0] != '{' && rest[0] != ' ') {
			continue
		}
		series, value, ok := strings.Cut(rest, " ")
		if !ok {
			continue
		}
		matches := true
		for _, l := range labels {
			matches = matches && strings.Contains(series, l)
		}
		if !matches {
			continue
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(value), 64)
		if err != nil {
			return 0, fmt.Errorf("metric %s: %q: %w", name, line, err)
		}
		sum += v
	}
	return sum, sc.Err()
}

// waitMetric waits until the metric (see metric) reaches at least min.
func (p *osProcess) waitMetric(timeout time.Duration, min float64, name string, labels ...string) float64 {
	p.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		v, err := p.metric(name, labels...)
		if err == nil && v >= min {
			return v
		}
		if !p.running() {
			p.t.Fatalf("%s exited %d while waiting for %s%v >= %v", p.name, p.cmd.ProcessState.ExitCode(), name, labels, min)
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("%s: %s%v = %v (error %v) after %v, want at least %v", p.name, name, labels, v, err, timeout, min)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "..." + s[len(s)-n:]
}

// postWebhook posts body to the order webhook at base as brandID, signed
// with secret.
func postWebhook(base, brandID, secret string, body any) (int, map[string]any, error) {
	raw, err := json.Marshal(body)
	if err != nil {
		return 0, nil, err
	}
	req, err := http.NewRequest("POST", base+"/v1/webhooks/orders", bytes.NewReader(raw))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Brand-Id", brandID)
	req.Header.Set("X-Signature", ingest.Sign(secret, time.Now(), raw))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	var out map[string]any
	err = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out, err
}

// brokerAddrs waits for the broker process's start line (JSON log) and
// returns the addresses it listens on.
func brokerAddrs(t *testing.T, p *osProcess, timeout time.Duration) []string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		for _, line := range strings.Split(p.out.String(), "\n") {
			var rec struct {
				Msg   string   `json:"msg"`
				Addrs []string `json:"addrs"`
			}
			if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "embedded kafka broker started" {
				return rec.Addrs
			}
		}
		if !p.running() {
			t.Fatalf("broker exited %d before it started", p.cmd.ProcessState.ExitCode())
		}
		if time.Now().After(deadline) {
			t.Fatalf("broker did not log its addresses within %v", timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// partitionLeaders returns how many partitions of the engine's topics each
// broker leads, by node id, failing the test unless the metadata names
// three brokers and more than one of them leads partitions (the clients
// then talk to several brokers, as on a real cluster).
func partitionLeaders(t *testing.T, addrs []string) map[int]int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	meta, err := (&kafka.Client{Addr: kafka.TCP(addrs...)}).Metadata(ctx, &kafka.MetadataRequest{Topics: schemas.Topics()})
	if err != nil {
		t.Fatalf("metadata of the embedded cluster: %v", err)
	}
	leaders := map[int]int{}
	for _, topic := range meta.Topics {
		for _, p := range topic.Partitions {
			leaders[p.Leader.ID]++
		}
	}
	if len(meta.Brokers) != 3 || len(leaders) < 2 {
		t.Fatalf("the embedded cluster has brokers %v and partition leaders %v; want 3 brokers, several of them leaders", meta.Brokers, leaders)
	}
	return leaders
}

// mpCreator is a creator of the multi-process test with the totals its
// report must show.
type mpCreator struct {
	token    string
	brand    int // index into the brands
	code     string
	orders   int
	statuses map[string]int
	earnings decimal.Decimal
}

// mpBrand is a brand of the multi-process test.
type mpBrand struct {
	id, secret, apiKey, offer string
	// percent: the offer pays 10 % of the net; otherwise 150.00 RUB an order.
	percent bool
}

// TestSeveralEngineProcessesWithAKill runs the engine as separate OS
// processes on one embedded cluster of three brokers (`attrib broker`,
// topics of 6 partitions): P1 the API, the commands processor, the Redis
// catalog projection, the email outbox and the summarizer; P2 and P3 the
// attribution worker and the ClickHouse projector, sharing the partitions
// of their consumer groups. A sender streams a few thousand signed orders
// (placed, confirmed, cancelled, partly refunded, events sent twice)
// through P1's webhook. Meanwhile, once P2 has consumed orders, it is
// paused (SIGSTOP) while the stream goes on, resumed, and killed with
// SIGKILL as soon as it has handled a batch of its backlog; P3 takes its
// partitions over; P2 is started again and, once it joined both groups
// again, the sender sends the last third. Then every creator's report
// totals (orders, per status, earnings) equal the ones the test computed,
// so nothing was lost or counted twice, P2 consumed orders after its
// restart, and the committed offsets of every consumer group reach the end
// of every partition (lag 0). The workers keep settled orders in Redis for
// a second only, so states leave for the cold store and come back for
// late follow-ups through the kill and the rebalances (both counted).
func TestSeveralEngineProcessesWithAKill(t *testing.T) {
	const (
		orders     = 3000
		block      = 100 // orders per round of webhook requests
		partitions = 6
	)
	began := time.Now()
	redisURL := testenv.RedisURL(t)
	chURL, _, _ := ownClickHouseDatabase(t)
	dir := t.TempDir()
	admin := "admin-" + testenv.UniqueName("")

	broker := startProcess(t, "broker", "", "broker", "--data-dir", filepath.Join(dir, "broker"),
		"--embedded-kafka-addr", "127.0.0.1:0", "--embedded-kafka-brokers", "3", "--embedded-kafka-fsync=false",
		"--log-format", "json", "--log-level", "info")
	addrs := brokerAddrs(t, broker, 60*time.Second)
	if len(addrs) != 3 {
		t.Fatalf("broker listens on %v, want 3 addresses", addrs)
	}
	common := []string{"serve", "--kafka-brokers", strings.Join(addrs, ","), "--kafka-partitions", strconv.Itoa(partitions),
		"--redis-url", redisURL, "--redis-prefix", testenv.UniqueName("t:") + ":", "--clickhouse-url", chURL,
		"--admin-token", admin, "--secret-key", strings.Repeat("5eed", 16), "--summary-refresh", "300ms", "--log-level", "warn",
		// Settled orders (cancelled, unattributed) leave Redis for the cold
		// store within seconds, so that evictions and cold loads happen
		// through the kill and the rebalances.
		"--state-retention", "1s", "--state-evict-interval", "1s"}
	engineProcess := func(name, components string) *osProcess {
		addr := freeAddr(t)
		args := append(append([]string{}, common...), "--http-addr", addr, "--data-dir", filepath.Join(dir, name), "--components", components)
		return startProcess(t, name, addr, args...)
	}
	// P1 first: it creates the topics and migrates ClickHouse; the others
	// then find both done.
	p1 := engineProcess("P1", "api,commands-processor,redis-catalog-projection,email-outbox,clickhouse-summary")
	p1.waitReady(90 * time.Second)
	p2 := engineProcess("P2", "attribution-worker,clickhouse-projector")
	p3 := engineProcess("P3", "attribution-worker,clickhouse-projector")
	p2.waitReady(90 * time.Second)
	p3.waitReady(90 * time.Second)
	leaders := partitionLeaders(t, addrs)
	started := time.Now()

	e := &engine{t: t, base: p1.base, admin: admin, shift: new(atomic.Int64)}
	brands := []mpBrand{{}, {percent: true}}
	for i := range brands {
		b := &brands[i]
		out := e.must(201, "POST", "/v1/brands", admin, map[string]any{"name": fmt.Sprintf("Brand %d", i)})
		b.id, b.apiKey, b.secret = str(out, "brand_id"), str(out, "api_key"), str(out, "webhook_secret")
		payout := map[string]any{"type": "fixed", "value": "150.00", "currency": "RUB"}
		if b.percent {
			payout = map[string]any{"type": "percent", "value": "10", "currency": "RUB"}
		}
		b.offer = str(e.must(201, "POST", "/v1/offers", b.apiKey, map[string]any{"name": fmt.Sprintf("Offer %d", i), "payout": payout,
			"countries": []string{"RU"}, "platforms": []string{"instagram"}, "hold_days": 30}), "offer_id")
	}
	creators := make([]mpCreator, 8)
	for i := range creators {
		c := &creators[i]
		c.brand, c.code, c.statuses = i%len(brands), fmt.Sprintf("MP%dCODE", i), map[string]int{}
		c.token = str(e.must(201, "POST", "/v1/creators", admin, map[string]any{"name": fmt.Sprintf("Creator %d", i),
			"email": fmt.Sprintf("mp%d@example.com", i)}), "token")
		req := str(e.must(201, "POST", "/v1/code-requests", c.token, map[string]any{"offer_id": brands[c.brand].offer, "platform": "instagram"}), "request_id")
		e.must(200, "POST", "/v1/code-requests/"+req+"/confirm", brands[c.brand].apiKey, map[string]any{"code": c.code})
	}
	analyst := str(e.must(201, "POST", "/v1/analysts", admin, map[string]any{"name": "Ops"}), "token")

	// The orders and what each creator's report must show. Order i is
	// creator i%8's, except every 25th, which names an unknown code (and
	// stays unattributed); what follows its placement is chosen by i%6.
	type mpOrder struct {
		id, amount, code string
		brand            int
		// followUp is the type of the event after the placement ("": none);
		// extra its fields beyond the order event's.
		followUp string
		extra    []string
		// placed and followed are the events as first sent, to repeat
		// them unchanged.
		placed, followed map[string]any
	}
	all := make([]mpOrder, orders)
	var unattributed int
	for i := range all {
		o := &all[i]
		c := &creators[i%len(creators)]
		o.id, o.brand, o.code = fmt.Sprintf("MP-%d", i), c.brand, c.code
		amount := decimal.NewFromInt(1000 + int64(i%50))
		o.amount = amount.StringFixed(2)
		status, net := "pending", amount
		switch i % 6 {
		case 1, 4:
			o.followUp, status = "order.confirmed", "approved"
		case 2:
			o.followUp, status = "order.cancelled", "rejected"
		case 3:
			o.followUp, o.extra, net = "order.refunded", []string{"refund_amount", "400.00"}, amount.Sub(decimal.NewFromInt(400))
		}
		if i%25 == 0 {
			o.code = "NOPE"
			unattributed++
			continue
		}
		c.orders++
		c.statuses[status]++
		switch {
		case status == "rejected":
		case brands[c.brand].percent:
			c.earnings = c.earnings.Add(net.Div(decimal.NewFromInt(10)))
		default:
			c.earnings = c.earnings.Add(decimal.NewFromInt(150))
		}
	}

	// sendRound sends, per brand, one signed webhook request with the
	// placements of block r, the follow-ups of block r-1 (of block r-lateBy
	// for the unattributed orders, settled at their placement, so that their
	// states have left Redis when their follow-ups come), every 7th
	// placement of block r-1 again and the refunds of block r-2 (r-lateBy-1)
	// again, and checks that exactly the repeated events are answered as
	// duplicates. It runs on the sender's goroutine.
	const lateBy = 4
	late := func(i int) bool { return i%25 == 0 }
	var events, duplicates int
	sendRound := func(r int) error {
		for bi, b := range brands {
			var batch []any
			fresh, dups := 0, 0
			for i := r * block; i < min((r+1)*block, orders); i++ {
				if o := &all[i]; o.brand == bi {
					o.placed = placed(o.id+"-p", o.id, o.amount, o.code)
					batch, fresh = append(batch, o.placed), fresh+1
				}
			}
			for i := (r - 1) * block; r >= 1 && i < min(r*block, orders); i++ {
				if o := &all[i]; o.brand == bi && i%7 == 0 {
					batch, dups = append(batch, o.placed), dups+1
				}
			}
			for _, lag := range []int{1, lateBy} {
				for i := (r - lag) * block; r >= lag && i < min((r-lag+1)*block, orders); i++ {
					if o := &all[i]; o.brand == bi && o.followUp != "" && late(i) == (lag == lateBy) {
						o.followed = orderEvent(o.id+"-f", o.followUp, o.id, o.extra...)
						batch, fresh = append(batch, o.followed), fresh+1
					}
				}
				for i := (r - lag - 1) * block; r >= lag+1 && i < min((r-lag)*block, orders); i++ {
					if o := &all[i]; o.brand == bi && o.followUp == "order.refunded" && late(i) == (lag == lateBy) {
						batch, dups = append(batch, o.followed), dups+1
					}
				}
			}
			if len(batch) == 0 {
				continue
			}
			code, out, err := postWebhook(p1.base, b.id, b.secret, map[string]any{"events": batch})
			if err != nil || code != 202 || out["accepted"] != float64(fresh) || out["duplicates"] != float64(dups) {
				return fmt.Errorf("round %d, brand %d: webhook = %d %v (error %v), want 202 with %d accepted and %d duplicates", r, bi, code, out, err, fresh, dups)
			}
			events, duplicates = events+fresh, duplicates+dups
		}
		return nil
	}
	rounds := (orders+block-1)/block + lateBy + 1 // more for the last blocks' follow-ups and repeats
	killAt, restartAt := rounds/3, 2*rounds/3
	workerEvents := []string{`group="` + worker.Group + `"`}
	var killedAfter, takenOverAfter, restartedAfter time.Duration
	var lagAtKill, p3Generations float64
	// The sender streams the rounds, through P2's kill, and waits at
	// restartAt until P2 is back.
	var sent atomic.Int64
	back := make(chan struct{})
	sendErr := make(chan error, 1)
	go func() {
		for r := range rounds {
			if r == restartAt {
				select {
				case <-back:
				case <-time.After(5 * time.Minute):
					sendErr <- fmt.Errorf("P2 was not back within 5 minutes")
					return
				}
			}
			if err := sendRound(r); err != nil {
				sendErr <- err
				return
			}
			sent.Store(int64(r + 1))
		}
		sendErr <- nil
	}()
	// Kill P2 mid-stream, once it has consumed orders (it owns partitions)
	// and a third of the rounds were sent; the sender goes on meanwhile.
	deadline := time.Now().Add(60 * time.Second)
	for sent.Load() < int64(killAt) {
		if time.Now().After(deadline) {
			t.Fatalf("%d rounds sent after 60 s, want %d", sent.Load(), killAt)
		}
		time.Sleep(20 * time.Millisecond)
	}
	p2.waitMetric(60*time.Second, 1, "attrib_eventstore_consumer_events_total", workerEvents...)
	p3Generations = p3.waitMetric(time.Second, 1, "attrib_eventstore_consumer_generations_total", workerEvents...)
	// A backlog for P2 to work through when it is killed: it is paused
	// (SIGSTOP, for less than its session timeout, so it keeps its
	// partitions) while the sender goes on, then resumed and killed as soon
	// as its worker has handled a batch of the backlog, while it handles
	// the other partitions' batches and before it commits them all.
	handled, _ := p2.metric("attrib_attribution_events_total")
	p2.signal(syscall.SIGSTOP)
	for pause := time.Now(); sent.Load() < int64(restartAt-1) && time.Since(pause) < 5*time.Second; {
		time.Sleep(20 * time.Millisecond)
	}
	p2.signal(syscall.SIGCONT)
	p2.waitMetric(60*time.Second, handled+1, "attrib_attribution_events_total")
	lagAtKill, _ = p2.metric("attrib_eventstore_consumer_lag", workerEvents...)
	p2.kill()
	killedAfter = time.Since(started)
	// P3 takes P2's partitions over once the broker gives up on P2's
	// session: a generation without it.
	p3.waitMetric(90*time.Second, p3Generations+1, "attrib_eventstore_consumer_generations_total", workerEvents...)
	takenOverAfter = time.Since(started)
	p2.start()
	p2.waitReady(90 * time.Second)
	// The rest is sent once P2 is back in both groups, so that it takes
	// partitions over again.
	p2.waitMetric(90*time.Second, 1, "attrib_eventstore_consumer_generations_total", workerEvents...)
	p2.waitMetric(90*time.Second, 1, "attrib_eventstore_consumer_generations_total", `group="`+chproj.Group+`"`)
	restartedAfter = time.Since(started)
	close(back)
	if err := <-sendErr; err != nil {
		t.Fatal(err)
	}
	sentAfter := time.Since(started)

	// Every creator's report shows its orders, statuses and earnings,
	// exactly; the analyst's totals, every attributed order once.
	deadline = time.Now().Add(120 * time.Second)
	for c := 0; c < len(creators); {
		cr := creators[c]
		code, out := e.call("GET", "/v1/reports/orders?limit=1", cr.token, nil)
		got := fmt.Sprint(out["totals"])
		want := fmt.Sprint(map[string]any{"orders": float64(cr.orders), "earnings": map[string]any{"RUB": cr.earnings.StringFixed(2)}})
		if code == 200 && got == want {
			for _, s := range []string{"pending", "approved", "rejected"} {
				totals, _ := e.must(200, "GET", "/v1/reports/orders?limit=1&status="+s, cr.token, nil)["totals"].(map[string]any)
				if totals["orders"] != float64(cr.statuses[s]) {
					t.Errorf("creator %d: %v %s orders, want %d", c, totals["orders"], s, cr.statuses[s])
				}
			}
			c++
			continue
		}
		if time.Now().After(deadline) {
			t.Fatalf("creator %d's report = %d, totals %s; want %s", c, code, got, want)
		}
		time.Sleep(250 * time.Millisecond)
	}
	attributed := orders - unattributed
	if totals, _ := e.must(200, "GET", "/v1/reports/orders?limit=1", analyst, nil)["totals"].(map[string]any); totals["orders"] != float64(attributed) {
		t.Errorf("the analyst's report counts %v orders, want %d", totals["orders"], attributed)
	}
	reportedAfter := time.Since(started)
	// P2 consumed orders again after its restart: it took partitions over.
	p2.waitMetric(30*time.Second, 1, "attrib_eventstore_consumer_events_total", workerEvents...)
	// Settled orders left Redis, and follow-ups of such orders brought
	// their states back from the cold store (in P3, or in P2 since its
	// restart: P2's counts before the kill died with it).
	evicted2, _ := p2.metric("attrib_attribution_states_evicted_total")
	evicted3, _ := p3.metric("attrib_attribution_states_evicted_total")
	loaded2, _ := p2.metric("attrib_attribution_cold_lookups_total", `result="loaded"`)
	loaded3, _ := p3.metric("attrib_attribution_cold_lookups_total", `result="loaded"`)
	if evicted2+evicted3 == 0 || loaded2+loaded3 == 0 {
		t.Errorf("states evicted: P2 %v, P3 %v; loaded back from the cold store: P2 %v, P3 %v; want both above 0", evicted2, evicted3, loaded2, loaded3)
	}

	// Every group's committed offsets reach the end of every partition.
	store, err := eventstore.Open(context.Background(), eventstore.Config{Brokers: addrs, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	groups := []struct{ group, topic string }{
		{worker.Group, schemas.TopicOrders},
		{chproj.Group, schemas.TopicAttributions},
		{chproj.Group, schemas.TopicCatalog},
		{rediscatalog.Group, schemas.TopicCatalog},
		{notify.Group, schemas.TopicCatalog},
		{commands.Group, commands.Topic},
	}
	deadline = time.Now().Add(60 * time.Second)
	for _, g := range groups {
		for {
			lag, err := store.GroupLag(context.Background(), g.group, g.topic)
			var total int64
			for _, l := range lag {
				total += l
			}
			if err == nil && len(lag) == partitions && total == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("group %s on %s: lag %v (error %v), want 0 on each of %d partitions", g.group, g.topic, lag, err, partitions)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	drainedAfter := time.Since(started)
	gen2, _ := p2.metric("attrib_eventstore_consumer_generations_total", workerEvents...)
	gen3, _ := p3.metric("attrib_eventstore_consumer_generations_total", workerEvents...)
	ev2, _ := p2.metric("attrib_eventstore_consumer_events_total", workerEvents...)
	ev3, _ := p3.metric("attrib_eventstore_consumer_events_total", workerEvents...)
	// The worker's duplicates are events it read again: the webhook let
	// no repeated event into the log.
	again2, _ := p2.metric("attrib_attribution_events_total", `result="duplicate"`)
	again3, _ := p3.metric("attrib_attribution_events_total", `result="duplicate"`)
	t.Logf("%d orders (%d unattributed) in %d events and %d duplicates over %d rounds; processes up after %v; "+
		"P2 killed -9 at %v (its worker lag then %v), its partitions taken over by P3 at %v, P2 back in both groups at %v; all sent at %v, every report exact at %v, "+
		"every group's lag 0 at %v; partitions led by each broker %v; worker generations joined: P3 %v, P2 since its restart %v; worker events committed: P3 %v, P2 since its restart %v; "+
		"events the worker read again (duplicates): P3 %v, P2 %v; states evicted: P3 %v, P2 %v; loaded back: P3 %v, P2 %v",
		orders, unattributed, events, duplicates, rounds, started.Sub(began).Round(time.Millisecond),
		killedAfter.Round(time.Millisecond), lagAtKill, takenOverAfter.Round(time.Millisecond), restartedAfter.Round(time.Millisecond), sentAfter.Round(time.Millisecond),
		reportedAfter.Round(time.Millisecond), drainedAfter.Round(time.Millisecond), leaders, gen3, gen2, ev3, ev2, again3, again2, evicted3, evicted2, loaded3, loaded2)

	// A graceful stop of every process: engines first, then the broker.
	for _, p := range []*osProcess{p1, p2, p3, broker} {
		p.stop()
	}
}
