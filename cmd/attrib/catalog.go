package main

import (
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/attrib-engine/attrib/api"
	"github.com/attrib-engine/attrib/attribution/worker"
	"github.com/attrib-engine/attrib/commands"
	"github.com/attrib-engine/attrib/credentials"
	"github.com/attrib-engine/attrib/eventstore"
	"github.com/attrib-engine/attrib/ingest"
	"github.com/attrib-engine/attrib/notify"
	"github.com/attrib-engine/attrib/projections/chproj"
	"github.com/attrib-engine/attrib/projections/rediscatalog"
	"github.com/attrib-engine/attrib/ratelimit"
	"github.com/attrib-engine/attrib/readmodel"
	"github.com/attrib-engine/attrib/reports"
	"github.com/attrib-engine/attrib/schemas"
)

// clock is the API's clock; tests move it to see time-dependent answers
// (the 14-day window of decided requests) without sleeping.
var clock = time.Now

// catalogComponents are the parts of the catalog: its Redis projection, the
// brand-command processor, and the v1 API over them.
type catalogComponents struct {
	projection *rediscatalog.Projection
	api        *api.Server
	// apiComps run with the API (the reports' freshness tracker).
	apiComps  []component
	consumers []component
}

// masterKey returns the configured master key, or the one kept under the
// data directory.
func masterKey(ec *engineConfig) (credentials.MasterKey, error) {
	if ec.SecretKey != "" {
		return credentials.ParseMasterKey(ec.SecretKey)
	}
	k, err := credentials.LoadOrCreateMasterKey(filepath.Join(ec.DataDir, "secret.key"))
	if err != nil {
		return nil, &startError{setting: "secret-key", err: err}
	}
	return k, nil
}

func newCatalogComponents(ec *engineConfig, in *infra, log *slog.Logger) (*catalogComponents, error) {
	key, err := masterKey(ec)
	if err != nil {
		return nil, err
	}
	proj, err := rediscatalog.New(rediscatalog.Config{Client: in.redis, Prefix: ec.RedisPrefix, Logger: log})
	if err != nil {
		return nil, err
	}
	projected := func(ctx context.Context, partition int) (int64, error) {
		wm, err := proj.Watermark(ctx, partition)
		return wm.Offset, err
	}
	// Replies live outside the projection's prefix, which rebuilds drop.
	repliesPrefix := strings.TrimSuffix(ec.RedisPrefix, ":") + "-replies:"
	replies := commands.NewRedisReplies(in.redis, repliesPrefix)
	proc, err := commands.NewProcessor(commands.ProcessorConfig{
		Store: in.store, Replier: replies, Projected: projected, Logger: log, Registerer: in.registry, Now: clock,
		AllowBackdating: ec.AllowBackdating,
		CreatorName: func(ctx context.Context, id string) (string, error) {
			c, _, err := proj.Creator(ctx, id)
			return c.Name, err
		},
	})
	if err != nil {
		return nil, err
	}
	admin := ec.AdminToken
	if admin == "" {
		path := filepath.Join(ec.DataDir, "admin.token")
		if admin, err = credentials.LoadOrCreateToken(path, "adm_"); err != nil {
			return nil, &startError{setting: "admin-token", err: err}
		}
		log.Info("no --admin-token given: the operator's token is in a file", "path", path)
	}
	limiter, err := ratelimit.New(ratelimit.Config{Client: in.redis, Prefix: strings.TrimSuffix(ec.RedisPrefix, ":") + "-ratelimit:",
		Logger: log, Registerer: in.registry})
	if err != nil {
		return nil, err
	}
	webhookLimit, err := limiter.Policy("webhook", ec.WebhookLimit)
	if err != nil {
		return nil, &startError{setting: "webhook-rate-limit", err: err}
	}
	apiLimit, err := limiter.Policy("api", ec.APILimit)
	if err != nil {
		return nil, &startError{setting: "api-rate-limit", err: err}
	}
	webhook, err := ingest.New(ingest.Config{
		Log:        in.store,
		Secrets:    ingest.NewCachedSecrets(ingest.CatalogSecrets(saltRing{proj}, key), ingest.CacheConfig{}),
		Now:        clock,
		Dedupe:     &ingest.RedisDedupe{Client: in.redis, Prefix: strings.TrimSuffix(ec.RedisPrefix, ":") + "-ingest:", Now: clock},
		Registerer: in.registry,
		Logger:     log,
		Limiter:    webhookLimit,
	})
	if err != nil {
		return nil, err
	}
	attributor, err := newWorker(ec, in.store, in.redis, proj, in.clickhouse, log, in.registry)
	if err != nil {
		return nil, err
	}
	chp, err := chproj.New(chproj.Config{Conn: in.clickhouse, Database: ec.ClickHouse.Auth.Database, Logger: log, Registerer: in.registry})
	if err != nil {
		return nil, err
	}
	chSub := chp.SubscriberConfig()
	chSub.Logger = log
	summarizer, err := readmodel.NewSummarizer(in.clickhouse, ec.ClickHouse.Auth.Database, log, in.registry, ec.schema()...)
	if err != nil {
		return nil, err
	}
	reader := catalogReader{p: proj}
	var (
		freshness api.FreshnessWaiter
		apiComps  []component
	)
	if ec.FreshnessWait > 0 {
		f, err := chproj.NewFreshness(chproj.FreshnessConfig{
			Store:      in.store,
			Watermarks: chp.Watermarks,
			Upstream:   []chproj.Upstream{{Group: worker.Group, Topic: schemas.TopicOrders, Output: schemas.TopicAttributions}},
			MaxWait:    ec.FreshnessWait,
			Logger:     log,
			Registerer: in.registry,
		})
		if err != nil {
			return nil, err
		}
		freshness = f
		apiComps = append(apiComps, component{name: "report-freshness", run: f.Run})
	}
	deliveries := &ingest.RedisDeliveries{Client: in.redis, Prefix: strings.TrimSuffix(ec.RedisPrefix, ":") + "-ingest:", Logger: log}
	shopHook, err := webhook.Shop(ingest.ShopConfig{
		Connectors: ingest.NewCachedConnectors(connectorSource{p: proj, key: key}),
		Deliveries: deliveries,
	})
	if err != nil {
		return nil, err
	}
	principals := &commands.Principals{Store: in.store, Projected: projected, Tokens: proj,
		Locks:           &commands.RedisLocks{Client: in.redis, Prefix: strings.TrimSuffix(ec.RedisPrefix, ":") + "-locks:"},
		AllowBackdating: ec.AllowBackdating}
	client := commands.NewClient(in.store, commands.NewRedisReplies(in.blocking, repliesPrefix), 0)
	var backdating api.Backdater
	if ec.AllowBackdating {
		backdating = backdater{client, principals}
		log.Warn("backdating is on: the operator may date catalog changes in the past (for demo and test data only)")
	}
	server, err := api.New(api.Config{
		Commands:   client,
		Backdating: backdating,
		Registrar:  principals,
		Rotator:    principals,
		Catalog:    reader,
		AdminToken: admin,
		MasterKey:  key,
		Webhook:    webhook,
		Reports:    reports.New(in.clickhouse, ec.ClickHouse.Auth.Database),
		Freshness:  freshness,
		Limiter:    apiLimit,
		Now:        clock,
		Logger:     log,
		Connectors: connectorReader{p: proj, deliveries: deliveries},
		ShopHook:   shopHook,
	})
	if err != nil {
		return nil, err
	}
	sender, err := notify.NewSender(ec.SMTPURL, ec.DataDir)
	if err != nil {
		return nil, &startError{setting: "smtp-url", err: err}
	}
	outbox, err := notify.NewOutbox(notify.Config{
		Directory:  mailDirectory{p: proj},
		Markers:    notify.NewRedisMarkers(in.redis, notify.RedisMarkersConfig{Prefix: strings.TrimSuffix(ec.RedisPrefix, ":") + "-outbox:"}),
		Sender:     sender,
		Registerer: in.registry,
		Logger:     log,
	})
	if err != nil {
		return nil, err
	}
	mailSub := outbox.SubscriberConfig()
	mailSub.Logger = log
	projSub := proj.SubscriberConfig()
	projSub.Logger = log
	procSub := eventstore.SubscriberConfig{Group: commands.Group, Topics: []string{commands.Topic}, Handler: proc.Handler(), Logger: log}
	return &catalogComponents{
		projection: proj,
		api:        server,
		apiComps:   apiComps,
		consumers: []component{
			subscriberComponent("redis-catalog-projection", in.store, projSub),
			subscriberComponent("commands-processor", in.store, procSub),
			subscriberComponent("email-outbox", in.store, mailSub),
			subscriberComponent("attribution-worker", in.store, attributor.SubscriberConfig()),
			subscriberComponent("clickhouse-projector", in.store, chSub),
			{name: "clickhouse-summary", run: func(ctx context.Context) error { return summarizer.Run(ctx, ec.SummaryRefresh) }},
		},
	}, nil
}

// backdater is the API's api.Backdater: brand commands through the
// commands topic, registrations straight to the catalog.
type backdater struct {
	*commands.Client
	*commands.Principals
}

// newWorker makes the attribution worker, its state under its own prefix;
// with a retention, the orders it evicts go to ClickHouse over ch.
func newWorker(ec *engineConfig, store *eventstore.Store, rdb redis.UniversalClient, proj *rediscatalog.Projection, ch driver.Conn, log *slog.Logger, reg prometheus.Registerer) (*worker.Worker, error) {
	cfg := worker.Config{
		Store:      store,
		Redis:      rdb,
		Prefix:     strings.TrimSuffix(ec.RedisPrefix, ":") + "-worker:",
		Index:      codeIndex{proj},
		Now:        clock,
		Logger:     log,
		Registerer: reg,
	}
	if ec.StateRetention > 0 {
		ws, err := readmodel.NewWorkerStates(ch, ec.ClickHouse.Auth.Database)
		if err != nil {
			return nil, &startError{setting: "clickhouse-url", err: err}
		}
		cfg.Cold, cfg.Retention, cfg.EvictInterval = coldStates{ws}, ec.StateRetention, ec.StateEvictInterval
	}
	return worker.New(cfg)
}

// subscriberComponent runs a consumer-group subscriber as a component.
func subscriberComponent(name string, store *eventstore.Store, cfg eventstore.SubscriberConfig) component {
	return component{name: name, run: func(ctx context.Context) error {
		sub, err := eventstore.NewSubscriber(store, cfg)
		if err != nil {
			return err
		}
		return sub.Run(ctx)
	}}
}
