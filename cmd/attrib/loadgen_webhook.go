package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/attrib-engine/attrib/internal/e2eload"
)

// webhookLoadOptions are the flags of `attrib loadgen webhook`.
type webhookLoadOptions struct {
	rate                 float64
	duration, linger     time.Duration
	followMin, followMax time.Duration
	finalWait, maxBehind time.Duration
	batch, senders       int
	brands, creators     int
	out                  string
	enginePID, redisPID  int
	clickhousePID        int
}

func (w *webhookLoadOptions) bind(fs *flag.FlagSet) {
	fs.Float64Var(&w.rate, "rate", 0, "loadgen webhook: orders placed per second; 0: as fast as the engine takes them")
	fs.DurationVar(&w.duration, "duration", 2*time.Minute, "loadgen webhook: how long to send new orders (their follow-ups due later are sent at the end)")
	fs.IntVar(&w.batch, "batch", 200, "loadgen webhook: most events per webhook request (up to 1000)")
	fs.DurationVar(&w.linger, "linger", 50*time.Millisecond, "loadgen webhook: longest a brand's events wait for their batch to fill")
	fs.IntVar(&w.senders, "senders", 8, "loadgen webhook: webhook requests in flight at most")
	fs.DurationVar(&w.followMin, "follow-up-min", time.Second, "loadgen webhook: shortest delay from an order's placement to its confirmation, cancellation or refund")
	fs.DurationVar(&w.followMax, "follow-up-max", 5*time.Second, "loadgen webhook: longest such delay")
	fs.DurationVar(&w.finalWait, "final-wait", 2*time.Minute, "loadgen webhook: how long to wait after the last 202 for the reports to hold everything")
	fs.DurationVar(&w.maxBehind, "max-behind", 10*time.Second, "loadgen webhook: at a fixed --rate, stop generating once the orders not yet answered stand for this much time at the rate")
	fs.IntVar(&w.brands, "webhook-brands", 8, "loadgen webhook: brands (shops) to register for the run")
	fs.IntVar(&w.creators, "webhook-creators", 40, "loadgen webhook: creators to register, each with a code at two brands")
	fs.StringVar(&w.out, "out", "", "loadgen webhook: also write the figures to this file")
	fs.IntVar(&w.enginePID, "engine-pid", 0, "loadgen webhook: pid of the engine, for its CPU; 0: the process listening on --url's port")
	fs.IntVar(&w.redisPID, "redis-pid", 0, "loadgen webhook: pid of redis-server; 0: the process listening on --redis-url's port")
	fs.IntVar(&w.clickhousePID, "clickhouse-pid", 0, "loadgen webhook: pid of clickhouse-server; 0: the process listening on --clickhouse-url's port")
}

// runLoadgenWebhook is `attrib loadgen webhook`: register brands and
// creators with confirmed codes on the running engine at --url, then send
// them order streams through the signed webhook and measure them from the
// POST to the creators' reports (internal/e2eload). It fails when anything
// was lost.
func runLoadgenWebhook(ctx context.Context, ec *engineConfig, log *slog.Logger, w *webhookLoadOptions, seed uint64) error {
	base := ec.DemoURL
	if base == "" {
		base = localURL(ec.HTTPAddr)
	}
	base = strings.TrimSuffix(base, "/")
	admin, err := adminToken(ec)
	if err != nil {
		return &startError{setting: "admin-token", err: err}
	}
	if w.brands < 1 || w.creators < 1 {
		return fmt.Errorf("--webhook-brands %d, --webhook-creators %d: want at least 1 of each", w.brands, w.creators)
	}
	run := "e2e" + strconv.FormatInt(time.Now().Unix()%1_000_000_000, 36)
	hc := &http.Client{Timeout: time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: w.senders + 4, DisableCompression: true}}
	brands, creators, err := registerWebhookLoad(ctx, &demoClient{ctx: ctx, base: base, hc: hc}, admin, run, w.brands, w.creators, log)
	if err != nil {
		return fmt.Errorf("loadgen webhook: set-up: %w", err)
	}
	procs := map[string]int{
		"engine":            pidOr(w.enginePID, portOf(base), log, "engine"),
		"redis-server":      pidOr(w.redisPID, portOf("redis://"+ec.RedisOptions.Addr), log, "redis-server"),
		"clickhouse-server": pidOr(w.clickhousePID, portOf("tcp://"+firstAddr(ec.ClickHouse.Addr)), log, "clickhouse-server"),
	}
	log.Info("sending orders", "run", run, "url", base, "rate", w.rate, "duration", w.duration, "brands", len(brands), "creators", len(creators))
	res, err := e2eload.Run(ctx, e2eload.Config{
		URL: base, Brands: brands, Creators: creators, Run: run, Mix: e2eload.DefaultMix, Seed: int64(seed),
		Rate: w.rate, Duration: w.duration, Batch: w.batch, Linger: w.linger, FollowMin: w.followMin, FollowMax: w.followMax,
		Senders: w.senders, FinalWait: w.finalWait, MaxBehind: w.maxBehind, Procs: procs, Progress: progressOut, Client: hc,
	})
	if err != nil {
		return fmt.Errorf("loadgen webhook: %w", err)
	}
	outs := []io.Writer{os.Stdout}
	if w.out != "" {
		if err := os.MkdirAll(filepath.Dir(w.out), 0o755); err != nil {
			return err
		}
		f, err := os.Create(w.out)
		if err != nil {
			return err
		}
		defer f.Close()
		outs = append(outs, f)
	}
	if err := res.WriteText(io.MultiWriter(outs...)); err != nil {
		return err
	}
	if res.Visible.IsZero() {
		return fmt.Errorf("loadgen webhook: the reports did not catch up within --final-wait %s", w.finalWait)
	}
	if res.Lost() {
		return fmt.Errorf("loadgen webhook: the reports do not hold what was sent (see the check above)")
	}
	return nil
}

// registerWebhookLoad registers the run's brands (each with one offer:
// 150.00 RUB per order, or 10 % in USD, every other brand; a 30-day hold, so
// no hold ends during a run) and creators, each creator with a confirmed
// code at two brands.
func registerWebhookLoad(ctx context.Context, c *demoClient, admin, run string, nb, nc int, log *slog.Logger) ([]e2eload.Brand, []e2eload.Creator, error) {
	brands := make([]e2eload.Brand, nb)
	keys := make([]string, nb)
	offers := make([]string, nb)
	for i := range brands {
		var b struct {
			BrandID       string `json:"brand_id"`
			APIKey        string `json:"api_key"`
			WebhookSecret string `json:"webhook_secret"`
		}
		if err := c.do("POST", "/v1/brands", admin, map[string]any{"name": fmt.Sprintf("Load %s brand %d", run, i)}, nil, 201, &b); err != nil {
			return nil, nil, err
		}
		payout := e2eload.Payout{Value: 15000, Currency: "RUB"}
		terms := map[string]any{"type": "fixed", "value": "150.00", "currency": "RUB"}
		if i%2 == 1 {
			payout = e2eload.Payout{Percent: true, Value: 10, Currency: "USD"}
			terms = map[string]any{"type": "percent", "value": "10", "currency": "USD"}
		}
		var off struct {
			OfferID string `json:"offer_id"`
		}
		offer := map[string]any{"name": fmt.Sprintf("Load %s offer %d", run, i), "payout": terms, "countries": []string{"RU"},
			"platforms": []string{"instagram"}, "hold_days": 30}
		if err := c.do("POST", "/v1/offers", b.APIKey, offer, nil, 201, &off); err != nil {
			return nil, nil, err
		}
		brands[i] = e2eload.Brand{ID: b.BrandID, Secret: b.WebhookSecret, Payout: payout}
		keys[i], offers[i] = b.APIKey, off.OfferID
	}
	creators := make([]e2eload.Creator, nc)
	for i := range creators {
		var out struct {
			CreatorID string `json:"creator_id"`
			Token     string `json:"token"`
		}
		if err := c.do("POST", "/v1/creators", admin, map[string]any{"name": fmt.Sprintf("Load %s creator %d", run, i),
			"email": fmt.Sprintf("load+%s-%d@example.com", run, i)}, nil, 201, &out); err != nil {
			return nil, nil, err
		}
		creators[i] = e2eload.Creator{ID: out.CreatorID, Token: out.Token}
		for k := 0; k < min(2, nb); k++ {
			bi := (i + k) % nb
			var req struct {
				RequestID string `json:"request_id"`
			}
			if err := c.do("POST", "/v1/code-requests", out.Token, map[string]any{"offer_id": offers[bi], "platform": "instagram"}, nil, 201, &req); err != nil {
				return nil, nil, err
			}
			code := strings.ToUpper(fmt.Sprintf("%sC%dB%d", run, i, bi))
			if err := c.do("POST", "/v1/code-requests/"+req.RequestID+"/confirm", keys[bi], map[string]any{"code": code}, nil, 200, nil); err != nil {
				return nil, nil, err
			}
			brands[bi].Codes = append(brands[bi].Codes, e2eload.Code{Text: code, Creator: i})
		}
		if (i+1)%10 == 0 || i == nc-1 {
			log.Info("loadgen webhook: creators registered", "creators", i+1, "of", nc)
		}
	}
	// Orders are placed from now on: after every confirmation, by the
	// engine's clock as well as the generator's (milliseconds apart).
	select {
	case <-ctx.Done():
		return nil, nil, ctx.Err()
	case <-time.After(time.Second):
	}
	return brands, creators, nil
}

// pidOr is pid when set, else the process listening on port (0 when none
// can be found: its CPU is then not measured, and the log says why).
func pidOr(pid, port int, log *slog.Logger, name string) int {
	if pid > 0 || port == 0 {
		return pid
	}
	p, err := e2eload.ListenerPID(port)
	if err != nil {
		log.Warn("loadgen webhook: CPU not measured", "process", name, "err", err)
		return 0
	}
	return p
}

// portOf is the port of a URL (0 when it has none).
func portOf(raw string) int {
	u, err := url.Parse(raw)
	if err != nil {
		return 0
	}
	p, _ := strconv.Atoi(u.Port())
	return p
}

func firstAddr(addrs []string) string {
	if len(addrs) == 0 {
		return ""
	}
	if _, _, err := net.SplitHostPort(addrs[0]); err != nil {
		return addrs[0] + ":9000"
	}
	return addrs[0]
}
