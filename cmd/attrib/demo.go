package main

// The demo data set: `attrib demo` (and `attrib serve --demo`, once) fills a
// running engine with three brands, four creators with their code requests
// and a few thousand orders placed over the last 60 days, in every status,
// so a newcomer sees reports with a history at once, and prints one
// sign-in link per role.
//
// The seeder is a pure HTTP client of the engine: it registers through the
// bootstrap endpoints, publishes offers and decides code requests as the
// brands, requests codes as the creators, and sends the orders as the
// brands' shops do, in signed webhook batches. Nothing goes around the API,
// so what the reports show went through the real path.
//
// Time. An order is attributed only to a code confirmed before the order
// was placed, so a catalog made during the run could attribute only orders
// placed after it. The seeder therefore dates the catalog in the past: each
// registration, offer, request and decision carries X-Occurred-At (the
// operator's backdating, accepted only by an engine started with
// --allow-backdating, which --demo turns on), so the same deciders record
// them as having happened then. The story starts 62 days ago: brands,
// offers and creators, most codes confirmed 61 days ago; Gleb's code is
// confirmed 35 days ago, Vera's is revoked 15 days ago; Gleb's second
// request is rejected and Boris's second left in moderation in the last
// days, so they show on the requests lists. Orders are placed over the last
// 60 days, more of them recently and at weekends, and their confirmations,
// cancellations and refunds follow within days (those that would fall in
// the future have not happened yet: those orders are pending). The orders
// that are unattributed on purpose are few: without a code, with a code
// nobody issued, with Gleb's code before its confirmation and with Vera's
// after its revocation.
//
// Reruns: the choice of orders comes from a fixed seed, so every run looks
// the same (up to the times). `attrib demo` run by hand twice creates a second,
// independent set of brands and creators; `serve --demo` seeds only once,
// guarded by the marker file <data-dir>/demo.seeded, written only after a
// successful run, and prints the links again at each start.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/attrib-engine/attrib/api"
	"github.com/attrib-engine/attrib/ingest"
)

// demoOut receives the demo's sign-in links: the process's standard output
// (set by runContext).
var demoOut io.Writer = os.Stdout

// demoDays is how many days back the demo's orders are placed.
const demoDays = 60

// demoOptions configure one seeding run.
type demoOptions struct {
	// URL is the engine's base URL, e.g. http://127.0.0.1:8080; the
	// sign-in links point there.
	URL        string
	AdminToken string
	// Orders is how many orders to send (default 3000).
	Orders int
	// Seed drives every random choice (default 5).
	Seed int64
	// OutFile, when set, receives the demo's tokens and links as JSON
	// (mode 0600).
	OutFile string
	// Out, when set, receives the sign-in links.
	Out    io.Writer
	Log    *slog.Logger
	Client *http.Client
	// Now is the clock; the demo's story ends at Now(). Default time.Now.
	Now func() time.Time
}

// demoBrand is a registered demo brand and its offer.
type demoBrand struct {
	Name          string `json:"name"`
	BrandID       string `json:"brand_id"`
	APIKey        string `json:"api_key"`
	WebhookSecret string `json:"webhook_secret"`
	OfferID       string `json:"offer_id"`
	Offer         string `json:"offer"`
	codes         []demoCode
	spec          demoBrandSpec
}

// demoCode is an issued demo code and when it attributes orders: from its
// confirmation, until its revocation (zero: not revoked).
type demoCode struct {
	text        string
	from, until time.Time
}

// demoCreator is a registered demo creator.
type demoCreator struct {
	Name      string   `json:"name"`
	Email     string   `json:"email"`
	CreatorID string   `json:"creator_id"`
	Token     string   `json:"token"`
	Codes     []string `json:"codes"`
}

// demoLink is one role's sign-in link.
type demoLink struct {
	Role string `json:"role"`
	Who  string `json:"who"`
	URL  string `json:"url"`
}

// demoResult is what a run created: who to log in as.
type demoResult struct {
	URL          string        `json:"url"`
	Brands       []demoBrand   `json:"brands"`
	Creators     []demoCreator `json:"creators"`
	AnalystID    string        `json:"analyst_id"`
	AnalystToken string        `json:"analyst_token"`
	Links        []demoLink    `json:"links"`
	Orders       int           `json:"orders"`
	Events       int           `json:"events"`
	// Unattributed is the reason each order is unattributed on purpose,
	// by "<brand id>/<order id>"; every other order is attributed.
	Unattributed map[string]string `json:"-"`
	// Placed is each order's placed time, by "<brand id>/<order id>".
	Placed map[string]time.Time `json:"-"`
}

// demoBrandSpec is a demo brand, its offer and its shop's orders.
type demoBrandSpec struct {
	brand, offer string
	payout       map[string]any
	hold         int
	currency     string
	// minAmount and maxAmount bound an order's amount, in whole units.
	minAmount, maxAmount int
	// share is the percentage of the orders placed at this brand.
	share int
}

var demoBrandSpecs = []demoBrandSpec{
	{"Lumen Cosmetics", "Lumen: 150 RUB per order", map[string]any{"type": "fixed", "value": "150.00", "currency": "RUB"}, 14, "RUB", 500, 15000, 45},
	{"Velo Sports", "Velo: 10% of the order", map[string]any{"type": "percent", "value": "10", "currency": "RUB"}, 0, "RUB", 1500, 40000, 35},
	{"Nord Outdoor", "Nord: 4 USD per order", map[string]any{"type": "fixed", "value": "4.00", "currency": "USD"}, 30, "USD", 20, 300, 20},
}

// demoRequest is a creator's code request and what its brand does with it,
// days before the end of the story: requested, then confirmed with code,
// rejected with reason, or left in moderation; a confirmed code may be
// revoked.
type demoRequest struct {
	brand     int
	platform  string
	requested float64
	decided   float64
	code      string
	reason    string
	revoked   float64
}

var demoCreators = []struct {
	name     string
	requests []demoRequest
}{
	{"Anna", []demoRequest{
		{brand: 0, platform: "instagram", requested: 61.9, decided: 61, code: "ANNA15"},
		{brand: 1, platform: "instagram", requested: 61.9, decided: 61, code: "ANNAVELO"},
		{brand: 2, platform: "instagram", requested: 61.9, decided: 61, code: "ANNANORD"},
	}},
	{"Boris", []demoRequest{
		{brand: 1, platform: "youtube", requested: 61.8, decided: 61, code: "BORIS10"},
		{brand: 0, platform: "vk", requested: 2},
	}},
	{"Vera", []demoRequest{
		{brand: 0, platform: "tiktok", requested: 61.8, decided: 61, code: "VERA", revoked: 15},
	}},
	{"Gleb", []demoRequest{
		{brand: 1, platform: "telegram", requested: 40, decided: 35, code: "GLEB7"},
		{brand: 0, platform: "telegram", requested: 5, decided: 3, reason: "audience too small for this offer"},
	}},
}

// runDemo is `attrib demo`: seed a running engine over HTTP.
func runDemo(ctx context.Context, ec *engineConfig, log *slog.Logger, _ []string) error {
	url := ec.DemoURL
	if url == "" {
		url = localURL(ec.HTTPAddr)
	}
	admin, err := adminToken(ec)
	if err != nil {
		return &startError{setting: "admin-token", err: err}
	}
	_, err = seedDemo(ctx, demoOptions{URL: url, AdminToken: admin, OutFile: filepath.Join(ec.DataDir, "demo.json"), Out: demoOut, Log: log})
	return err
}

// localURL is the loopback URL of an engine listening on addr.
func localURL(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "http://127.0.0.1:8080"
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port)
}

// adminToken is the configured operator token, or the one the engine keeps
// under the data directory.
func adminToken(ec *engineConfig) (string, error) {
	if ec.AdminToken != "" {
		return ec.AdminToken, nil
	}
	raw, err := os.ReadFile(filepath.Join(ec.DataDir, "admin.token"))
	if err != nil {
		return "", fmt.Errorf("no --admin-token and no token file: %w", err)
	}
	tok := strings.TrimSpace(string(raw))
	if tok == "" {
		return "", errors.New("the admin token file is empty")
	}
	return tok, nil
}

// demoComponent is `serve --demo`: once the HTTP API answers /readyz, seed
// the demo data unless the marker file says it was done (then print the
// saved sign-in links again); a failure is logged and leaves no marker, so
// the next start tries again. It then idles until the engine stops.
func demoComponent(ec *engineConfig, log *slog.Logger) component {
	return component{name: "demo", run: func(ctx context.Context) error {
		marker := filepath.Join(ec.DataDir, "demo.seeded")
		url := localURL(ec.HTTPAddr)
		err := waitReady(ctx, url)
		if err == nil {
			if _, statErr := os.Stat(marker); statErr == nil {
				log.Info("demo data already seeded; delete the marker to seed again", "marker", marker)
				reprintDemoLinks(filepath.Join(ec.DataDir, "demo.json"), demoOut, log)
			} else {
				err = seedDemoOnce(ctx, ec, log, url, marker)
			}
		}
		if err != nil && ctx.Err() == nil {
			log.Error("demo data not seeded", "err", err)
		}
		<-ctx.Done()
		return nil
	}}
}

// waitReady waits until the engine at url answers /readyz.
func waitReady(ctx context.Context, url string) error {
	return waitFor(ctx, 2*time.Minute, func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, "GET", url+"/readyz", nil)
		if err != nil {
			return err
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("readyz: %s", resp.Status)
		}
		return nil
	})
}

func seedDemoOnce(ctx context.Context, ec *engineConfig, log *slog.Logger, url, marker string) error {
	admin, err := adminToken(ec)
	if err != nil {
		return err
	}
	if _, err := seedDemo(ctx, demoOptions{URL: url, AdminToken: admin, OutFile: filepath.Join(ec.DataDir, "demo.json"), Out: demoOut, Log: log}); err != nil {
		return err
	}
	return os.WriteFile(marker, []byte(time.Now().UTC().Format(time.RFC3339)+"\n"), 0o600)
}

// reprintDemoLinks prints the sign-in links saved by an earlier run.
func reprintDemoLinks(file string, out io.Writer, log *slog.Logger) {
	raw, err := os.ReadFile(file)
	var saved demoResult
	if err == nil {
		err = json.Unmarshal(raw, &saved)
	}
	if err != nil || len(saved.Links) == 0 {
		log.Warn("the demo's sign-in links are not available", "file", file, "err", err)
		return
	}
	printDemoLinks(out, &saved)
}

// printDemoLinks prints one sign-in link per role, with what each shows.
func printDemoLinks(out io.Writer, res *demoResult) {
	if out == nil {
		return
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\nDemo data: %d orders placed over the last %d days. Sign in by opening one link per role:\n", res.Orders, demoDays)
	width := 0
	for _, l := range res.Links {
		width = max(width, len(l.Role)+len(l.Who)+1)
	}
	for _, l := range res.Links {
		fmt.Fprintf(&b, "  %-*s  %s\n", width, l.Role+" "+l.Who, l.URL)
	}
	b.WriteString("Every token is also in demo.json under the data directory.\n\n")
	_, _ = io.WriteString(out, b.String())
}

// demoClient calls the engine's API.
type demoClient struct {
	ctx  context.Context
	base string
	hc   *http.Client
}

// do sends one request, retrying 429, 503 and connection errors a few
// times (nothing was recorded then), and decodes a JSON answer into out.
func (c *demoClient) do(method, path, token string, body any, header func() http.Header, want int, out any) error {
	var raw []byte
	switch b := body.(type) {
	case nil:
	case []byte: // sent as is: a webhook body is signed byte for byte
		raw = b
	default:
		var err error
		if raw, err = json.Marshal(b); err != nil {
			return err
		}
	}
	var last error
	for attempt := 0; attempt < 6; attempt++ {
		if attempt > 0 {
			select {
			case <-c.ctx.Done():
				return c.ctx.Err()
			case <-time.After(time.Duration(attempt) * 500 * time.Millisecond):
			}
		}
		req, err := http.NewRequestWithContext(c.ctx, method, c.base+path, bytes.NewReader(raw))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/json")
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		if header != nil {
			for k, v := range header() {
				req.Header[k] = v
			}
		}
		resp, err := c.hc.Do(req)
		if err != nil {
			if c.ctx.Err() != nil {
				return c.ctx.Err()
			}
			last = err
			continue
		}
		answer, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable {
			last = fmt.Errorf("%s %s: %s %s", method, path, resp.Status, answer)
			continue
		}
		if resp.StatusCode != want {
			return fmt.Errorf("%s %s: %s %s", method, path, resp.Status, answer)
		}
		if out != nil {
			if err := json.Unmarshal(answer, out); err != nil {
				return fmt.Errorf("%s %s: %w", method, path, err)
			}
		}
		return nil
	}
	return last
}

// demoTime is how demo events write times: milliseconds, so that an order
// placed just after a confirmation is not rounded to before it.
const demoTime = "2006-01-02T15:04:05.000Z07:00"

// demoStep is one change of the demo's catalog, made at its past time.
type demoStep struct {
	at time.Time
	do func(at time.Time) error
}

// seedDemo creates the demo data set on the engine at o.URL.
func seedDemo(ctx context.Context, o demoOptions) (*demoResult, error) {
	if o.Orders <= 0 {
		o.Orders = 3000
	}
	if o.Seed == 0 {
		o.Seed = 5
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.Client == nil {
		o.Client = &http.Client{Timeout: 60 * time.Second}
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	log := o.Log.With("demo", o.URL)
	c := &demoClient{ctx: ctx, base: strings.TrimSuffix(o.URL, "/"), hc: o.Client}
	res := &demoResult{URL: c.base, Unattributed: map[string]string{}, Placed: map[string]time.Time{}}
	now := o.Now().UTC().Truncate(time.Millisecond)
	daysAgo := func(d float64) time.Time {
		return now.Add(-time.Duration(d * float64(24*time.Hour))).Truncate(time.Minute)
	}
	start := daysAgo(62)

	// The catalog's story, each change at its own past time. Steps are
	// made in time order; each brand's changes must be (the deciders
	// refuse a change before the brand's latest), and the order also
	// gives every step what it needs (a brand before its offer, a creator
	// before their request, a request before its decision).
	var steps []demoStep
	add := func(at time.Time, do func(at time.Time) error) { steps = append(steps, demoStep{at: at, do: do}) }
	admin := func(at time.Time) func() http.Header {
		return func() http.Header {
			return http.Header{api.HeaderOccurredAt: {at.Format(demoTime)}, api.HeaderAdminToken: {o.AdminToken}}
		}
	}
	res.Brands = make([]demoBrand, len(demoBrandSpecs))
	for i, s := range demoBrandSpecs {
		b := &res.Brands[i]
		b.spec, b.Name, b.Offer = s, s.brand, s.offer
		add(start.Add(time.Duration(i)*time.Minute), func(at time.Time) error {
			var out struct {
				BrandID       string `json:"brand_id"`
				APIKey        string `json:"api_key"`
				WebhookSecret string `json:"webhook_secret"`
			}
			if err := c.do("POST", "/v1/brands", o.AdminToken, map[string]any{"name": s.brand}, admin(at), 201, &out); err != nil {
				return err
			}
			b.BrandID, b.APIKey, b.WebhookSecret = out.BrandID, out.APIKey, out.WebhookSecret
			return nil
		})
		add(start.Add(time.Hour+time.Duration(i)*time.Minute), func(at time.Time) error {
			var out struct {
				OfferID string `json:"offer_id"`
			}
			offer := map[string]any{"name": s.offer, "payout": s.payout, "countries": []string{"RU"},
				"platforms": []string{"instagram", "tiktok", "youtube", "telegram", "vk"}, "hold_days": s.hold}
			if err := c.do("POST", "/v1/offers", b.APIKey, offer, admin(at), 201, &out); err != nil {
				return err
			}
			b.OfferID = out.OfferID
			log.Info("demo brand registered", "brand", s.brand, "brand_id", b.BrandID, "offer_id", b.OfferID, "at", start.Format(time.DateOnly))
			return nil
		})
	}
	add(start.Add(90*time.Minute), func(at time.Time) error {
		var out struct {
			AnalystID string `json:"analyst_id"`
			Token     string `json:"token"`
		}
		if err := c.do("POST", "/v1/analysts", o.AdminToken, map[string]any{"name": "Demo analyst"}, admin(at), 201, &out); err != nil {
			return err
		}
		res.AnalystID, res.AnalystToken = out.AnalystID, out.Token
		return nil
	})
	res.Creators = make([]demoCreator, len(demoCreators))
	for ci, cr := range demoCreators {
		dc := &res.Creators[ci]
		dc.Name, dc.Email, dc.Codes = cr.name, "demo+"+strings.ToLower(cr.name)+"@example.com", []string{}
		add(start.Add(2*time.Hour+time.Duration(ci)*time.Minute), func(at time.Time) error {
			var out struct {
				CreatorID string `json:"creator_id"`
				Token     string `json:"token"`
			}
			if err := c.do("POST", "/v1/creators", o.AdminToken, map[string]any{"name": dc.Name, "email": dc.Email}, admin(at), 201, &out); err != nil {
				return err
			}
			dc.CreatorID, dc.Token = out.CreatorID, out.Token
			return nil
		})
		for ri, rq := range cr.requests {
			b := &res.Brands[rq.brand]
			var requestID string
			requested := daysAgo(rq.requested).Add(time.Duration(ci*10+ri) * time.Minute)
			add(requested, func(at time.Time) error {
				var out struct {
					RequestID string `json:"request_id"`
				}
				if err := c.do("POST", "/v1/code-requests", dc.Token, map[string]any{"offer_id": b.OfferID, "platform": rq.platform}, admin(at), 201, &out); err != nil {
					return err
				}
				requestID = out.RequestID
				return nil
			})
			if rq.decided == 0 {
				continue
			}
			decided := daysAgo(rq.decided).Add(time.Duration(ci*10+ri) * time.Minute)
			if rq.code == "" {
				add(decided, func(at time.Time) error {
					return c.do("POST", "/v1/code-requests/"+requestID+"/reject", b.APIKey, map[string]any{"reason": rq.reason}, admin(at), 200, nil)
				})
				continue
			}
			code := demoCode{text: rq.code, from: decided}
			if rq.revoked > 0 {
				code.until = daysAgo(rq.revoked)
				add(code.until, func(at time.Time) error {
					return c.do("POST", "/v1/promo-codes/"+rq.code+"/revoke", b.APIKey, nil, admin(at), 200, nil)
				})
			}
			b.codes = append(b.codes, code)
			dc.Codes = append(dc.Codes, rq.code)
			add(decided, func(at time.Time) error {
				return c.do("POST", "/v1/code-requests/"+requestID+"/confirm", b.APIKey, map[string]any{"code": rq.code}, admin(at), 200, nil)
			})
		}
	}
	sort.SliceStable(steps, func(i, j int) bool { return steps[i].at.Before(steps[j].at) })
	for i, s := range steps {
		if err := s.do(s.at); err != nil {
			if i == 0 && strings.Contains(err.Error(), " 403 ") {
				return nil, fmt.Errorf("the engine does not take the demo's past dates; start it with --allow-backdating (serve --demo does): %w", err)
			}
			return nil, err
		}
	}
	for _, cr := range res.Creators {
		log.Info("demo creator registered", "creator", cr.Name, "codes", cr.Codes)
	}

	events, err := demoOrders(res, o, now)
	if err != nil {
		return nil, err
	}
	if err := sendDemoOrders(c, res, events, log); err != nil {
		return nil, err
	}

	link := func(token string) string { return c.base + "/#token=" + token }
	res.Links = []demoLink{
		{Role: "creator", Who: res.Creators[0].Name, URL: link(res.Creators[0].Token)},
		{Role: "creator", Who: res.Creators[1].Name, URL: link(res.Creators[1].Token)},
		{Role: "brand", Who: res.Brands[0].Name, URL: link(res.Brands[0].APIKey)},
		{Role: "analyst", Who: "Demo analyst", URL: link(res.AnalystToken)},
	}
	if o.OutFile != "" {
		raw, err := json.MarshalIndent(res, "", "  ")
		if err != nil {
			return nil, err
		}
		if err := os.MkdirAll(filepath.Dir(o.OutFile), 0o700); err != nil {
			return nil, err
		}
		if err := os.WriteFile(o.OutFile, append(raw, '\n'), 0o600); err != nil {
			return nil, err
		}
	}
	log.Info("demo data seeded", "orders", res.Orders, "events", res.Events, "tokens_file", o.OutFile)
	printDemoLinks(o.Out, res)
	return res, nil
}

// demoOrders makes the demo's order events, by brand, and records in res
// each order's placed time and the reason of those unattributed on purpose.
func demoOrders(res *demoResult, o demoOptions, now time.Time) ([][]map[string]any, error) {
	rng := rand.New(rand.NewSource(o.Seed))
	span := time.Duration(demoDays) * 24 * time.Hour
	first := now.Add(-span)
	// placedAt draws a placed time: the density grows linearly to three
	// times its start over the span, and weekdays are kept three times in
	// four, so the earnings chart has a trend and a weekly rhythm.
	placedAt := func() time.Time {
		for {
			u := rng.Float64()
			x := (-1 + math.Sqrt(1+8*u)) / 2 // inverse of F(x) = (x + x²) / 2
			t := first.Add(time.Duration(x * float64(span))).Truncate(time.Millisecond)
			if wd := t.Weekday(); (wd == time.Saturday || wd == time.Sunday || rng.Intn(4) < 3) && t.Before(now) {
				return t
			}
		}
	}
	days := func(lo, hi float64) time.Duration {
		return time.Duration((lo + rng.Float64()*(hi-lo)) * float64(24*time.Hour)).Truncate(time.Millisecond)
	}
	// typed is a code as shoppers type it: mostly as issued, sometimes in
	// lower case, with spaces around, or with a Cyrillic look-alike.
	typed := func(code string) string {
		switch r := rng.Intn(100); {
		case r < 12:
			return strings.ToLower(code)
		case r < 16:
			return " " + code + " "
		case r < 19 && strings.Contains(code, "A"):
			return strings.Replace(code, "A", "А", 1) // Cyrillic А
		}
		return code
	}
	unknown := []string{"SALE10", "WELCOME5", "BLACKFRIDAY", "SUMMER20", "FRIENDS"}
	events := make([][]map[string]any, len(res.Brands))
	for i := 0; i < o.Orders; i++ {
		bi, pick := 0, rng.Intn(100)
		for pick >= res.Brands[bi].spec.share && bi < len(res.Brands)-1 {
			pick -= res.Brands[bi].spec.share
			bi++
		}
		b := &res.Brands[bi]
		orderID := fmt.Sprintf("DEMO-%c-%05d", 'A'+bi, i+1)
		key := b.BrandID + "/" + orderID
		units := b.spec.minAmount + rng.Intn(b.spec.maxAmount-b.spec.minAmount)
		amount := fmt.Sprintf("%d.%02d", units, rng.Intn(100))
		placed := placedAt()
		var codes []string
		switch kind := rng.Intn(100); {
		case kind < 4:
			codes = []string{}
			res.Unattributed[key] = "no_code"
		case kind < 8:
			codes = []string{unknown[rng.Intn(len(unknown))]}
			res.Unattributed[key] = "unknown_code"
		default:
			code := b.codes[rng.Intn(len(b.codes))]
			// Few orders carry a code outside its life: most shoppers of
			// those days would have used another creator's code.
			if (placed.Before(code.from) || (!code.until.IsZero() && !placed.Before(code.until))) && rng.Intn(4) > 0 {
				for _, other := range b.codes {
					if !placed.Before(other.from) && other.until.IsZero() {
						code = other
						break
					}
				}
			}
			switch {
			case placed.Before(code.from):
				res.Unattributed[key] = "code_not_active"
			case !code.until.IsZero() && !placed.Before(code.until):
				res.Unattributed[key] = "code_revoked"
			}
			codes = []string{typed(code.text)}
		}
		res.Placed[key] = placed
		evs := []map[string]any{{"event_id": orderID + "-placed", "type": "order.placed", "order_id": orderID,
			"occurred_at": placed.Format(demoTime), "promo_codes": codes,
			"amount": amount, "currency": b.spec.currency, "country": "RU"}}
		// What the shop does next, some days later; what would happen
		// after now has not happened yet.
		var next map[string]any
		later := func(typ string, lo, hi float64) map[string]any {
			at := placed.Add(days(lo, hi))
			if at.After(now) {
				return nil
			}
			return map[string]any{"event_id": orderID + "-" + strings.TrimPrefix(typ, "order."), "type": typ,
				"order_id": orderID, "occurred_at": at.Format(demoTime)}
		}
		switch outcome := rng.Intn(100); {
		case outcome < 10:
			next = later("order.cancelled", 0.1, 5)
		case outcome < 16:
			if next = later("order.refunded", 3, 20); next != nil {
				next["refund_amount"] = amount
			}
		case outcome < 25:
			if next = later("order.refunded", 3, 20); next != nil {
				next["refund_amount"] = fmt.Sprintf("%d.00", units*(10+rng.Intn(40))/100)
			}
		case outcome < 65:
			next = later("order.confirmed", 1, 12)
		}
		if next != nil {
			evs = append(evs, next)
		}
		events[bi] = append(events[bi], evs...)
	}
	res.Orders = o.Orders
	return events, nil
}

// sendDemoOrders sends the orders as the shops do: signed batches of up to
// 500 events.
func sendDemoOrders(c *demoClient, res *demoResult, events [][]map[string]any, log *slog.Logger) error {
	const batch = 500
	total := 0
	for _, evs := range events {
		total += len(evs)
	}
	sent, began, lastLog := 0, time.Now(), time.Now()
	for bi, evs := range events {
		b := res.Brands[bi]
		for len(evs) > 0 {
			n := min(batch, len(evs))
			body, err := json.Marshal(map[string]any{"events": evs[:n]})
			if err != nil {
				return err
			}
			header := func() http.Header {
				return http.Header{
					http.CanonicalHeaderKey(ingest.HeaderBrandID):   {b.BrandID},
					http.CanonicalHeaderKey(ingest.HeaderSignature): {ingest.Sign(b.WebhookSecret, time.Now(), body)},
				}
			}
			if err := c.do("POST", "/v1/webhooks/orders", "", body, header, 202, nil); err != nil {
				return err
			}
			evs = evs[n:]
			sent += n
			if time.Since(lastLog) > 2*time.Second || sent == total {
				lastLog = time.Now()
				log.Info("demo orders sent", "events", sent, "of", total,
					"events_per_s", int(float64(sent)/max(time.Since(began).Seconds(), 0.001)))
			}
		}
	}
	res.Events = total
	return nil
}
