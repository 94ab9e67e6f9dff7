package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/redis/go-redis/v9"

	"github.com/attrib-engine/attrib/api"
	"github.com/attrib-engine/attrib/commands"
	"github.com/attrib-engine/attrib/eventstore"
	"github.com/attrib-engine/attrib/eventstore/embedded"
	"github.com/attrib-engine/attrib/readmodel"
	"github.com/attrib-engine/attrib/schemas"
	"github.com/attrib-engine/attrib/web"
)

// infra holds the connections every component shares.
type infra struct {
	registry *prometheus.Registry
	store    *eventstore.Store
	redis    redis.UniversalClient
	// blocking is a second Redis client for calls that block a connection
	// (BLPOP of command replies), so that waiting API calls can never take
	// every connection of the pool the processor needs to answer them.
	blocking   redis.UniversalClient
	clickhouse driver.Conn
	// comps are the infrastructure's own components (the embedded broker,
	// closers), to run first and stop last.
	comps []component
}

func newRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// openKafka starts the embedded broker when no brokers are configured, then
// opens the store and provisions the event topics.
func openKafka(ctx context.Context, ec *engineConfig, log *slog.Logger, reg prometheus.Registerer) (*eventstore.Store, []component, error) {
	var comps []component
	brokers := ec.KafkaBrokers
	setting := "kafka-brokers"
	if len(brokers) == 0 {
		dir := filepath.Join(ec.DataDir, "kafka")
		b, err := embedded.Start(ec.embeddedKafka(dir, log))
		if err != nil {
			return nil, nil, &startError{setting: "embedded-kafka-addr", err: err}
		}
		brokers = b.Addrs()
		setting = "embedded-kafka-addr"
		log.Info("embedded kafka broker started", "addrs", brokers, "data_dir", dir, "fsync", ec.EmbeddedFsync)
		comps = append(comps, component{name: "embedded-kafka", run: func(ctx context.Context) error {
			<-ctx.Done()
			b.Close()
			return nil
		}})
	}
	store, err := eventstore.Open(ctx, eventstore.Config{
		Brokers:           brokers,
		Partitions:        ec.KafkaPartitions,
		ReplicationFactor: ec.KafkaReplication,
		Compression:       ec.KafkaCompression,
		DialTimeout:       ec.DependencyTimeout,
		Logger:            log,
		Registerer:        reg,
	})
	if err != nil {
		closeAll(comps)
		return nil, nil, &startError{setting: setting, err: err}
	}
	tctx, cancel := context.WithTimeout(ctx, ec.DependencyTimeout)
	defer cancel()
	var specs []eventstore.TopicSpec
	for _, t := range schemas.Topics() {
		specs = append(specs, eventstore.TopicSpec{Name: t})
	}
	err = store.EnsureTopics(tctx, specs...)
	if err == nil {
		// The commands topic must match the catalog topic's partitions (see
		// package commands), whatever --kafka-partitions says now.
		var n int
		if n, err = store.Partitions(tctx, schemas.TopicCatalog); err == nil {
			err = store.EnsureTopics(tctx, commands.TopicSpec(n))
		}
	}
	if err != nil {
		_ = store.Close()
		closeAll(comps)
		return nil, nil, &startError{setting: setting, err: err}
	}
	comps = append(comps, component{name: "eventstore", run: func(ctx context.Context) error {
		<-ctx.Done()
		return store.Close()
	}})
	return store, comps, nil
}

// closeAll stops components that were started but never run.
func closeAll(comps []component) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for i := len(comps) - 1; i >= 0; i-- {
		_ = comps[i].run(ctx)
	}
}

// waitFor retries ping until it succeeds or timeout passes.
func waitFor(ctx context.Context, timeout time.Duration, ping func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var err error
	for {
		pctx, pcancel := context.WithTimeout(ctx, 2*time.Second)
		err = ping(pctx)
		pcancel()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("no answer within %v: %w", timeout, err)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// openRedis connects to Redis through a UniversalClient, so a Redis Cluster
// works unchanged. poolSize 0 keeps go-redis's default.
func openRedis(ctx context.Context, ec *engineConfig, poolSize int) (redis.UniversalClient, error) {
	o := ec.RedisOptions
	client := redis.NewUniversalClient(&redis.UniversalOptions{
		Addrs:     []string{o.Addr},
		DB:        o.DB,
		Username:  o.Username,
		Password:  o.Password,
		TLSConfig: o.TLSConfig,
		PoolSize:  poolSize,
		// A cluster is found from one node: go-redis asks it for the
		// others. The engine's keys and pipelines are cluster-safe (no
		// multi-key command spans two slots).
		IsClusterMode: ec.RedisCluster,
	})
	if err := waitFor(ctx, ec.DependencyTimeout, func(ctx context.Context) error { return client.Ping(ctx).Err() }); err != nil {
		_ = client.Close()
		return nil, &startError{setting: "redis-url", err: fmt.Errorf("redis unreachable: %w", err)}
	}
	return client, nil
}

// openClickHouse applies the missing migrations (creating the database
// when it does not exist yet) over a bootstrap connection to the server's
// default database, then connects to the configured database over the
// native protocol.
func openClickHouse(ctx context.Context, ec *engineConfig) (driver.Conn, error) {
	boot := *ec.ClickHouse
	boot.Auth.Database = ""
	bconn, err := clickhouse.Open(&boot)
	if err != nil {
		return nil, &startError{setting: "clickhouse-url", err: err}
	}
	defer bconn.Close()
	if err := waitFor(ctx, ec.DependencyTimeout, bconn.Ping); err != nil {
		return nil, &startError{setting: "clickhouse-url", err: fmt.Errorf("clickhouse unreachable: %w", err)}
	}
	applied, err := readmodel.Migrate(ctx, bconn, ec.ClickHouse.Auth.Database, ec.schema()...)
	if err != nil {
		return nil, &startError{setting: "clickhouse-url", err: fmt.Errorf("clickhouse migrations: %w", err)}
	}
	for _, m := range applied {
		slog.Info("clickhouse migration applied", "database", ec.ClickHouse.Auth.Database, "version", m.Version, "name", m.Name)
	}
	conn, err := clickhouse.Open(ec.ClickHouse)
	if err != nil {
		return nil, &startError{setting: "clickhouse-url", err: err}
	}
	if err := waitFor(ctx, ec.DependencyTimeout, conn.Ping); err != nil {
		_ = conn.Close()
		return nil, &startError{setting: "clickhouse-url", err: fmt.Errorf("clickhouse unreachable: %w", err)}
	}
	return conn, nil
}

// openInfra opens Kafka, Redis and ClickHouse, failing with the name of the
// setting of the first that does not answer.
func openInfra(ctx context.Context, ec *engineConfig, log *slog.Logger) (*infra, error) {
	in := &infra{registry: newRegistry()}
	store, comps, err := openKafka(ctx, ec, log, in.registry)
	if err != nil {
		return nil, err
	}
	in.store, in.comps = store, comps
	rdb, err := openRedis(ctx, ec, 0)
	if err != nil {
		closeAll(in.comps)
		return nil, err
	}
	blocking, err := openRedis(ctx, ec, 1000)
	if err != nil {
		_ = rdb.Close()
		closeAll(in.comps)
		return nil, err
	}
	in.redis, in.blocking = rdb, blocking
	in.comps = append(in.comps, component{name: "redis", run: func(ctx context.Context) error {
		<-ctx.Done()
		return errors.Join(rdb.Close(), blocking.Close())
	}})
	ch, err := openClickHouse(ctx, ec)
	if err != nil {
		closeAll(in.comps)
		return nil, err
	}
	in.clickhouse = ch
	in.comps = append(in.comps, component{name: "clickhouse", run: func(ctx context.Context) error {
		<-ctx.Done()
		return ch.Close()
	}})
	return in, nil
}

func (in *infra) checks() []api.Check {
	return []api.Check{
		{Name: "kafka", Ping: in.store.Ping},
		{Name: "redis", Ping: func(ctx context.Context) error { return in.redis.Ping(ctx).Err() }},
		{Name: "clickhouse", Ping: in.clickhouse.Ping},
	}
}

// runServe runs every component in one process.
func runServe(ctx context.Context, ec *engineConfig, log *slog.Logger, _ []string) error {
	_, comps, err := newServe(ctx, ec, log)
	if err != nil {
		return err
	}
	return runGroup(ctx, log, comps)
}

// newServe opens the infrastructure and returns the components of
// `attrib serve` that ec runs, in start order, and the registry of their
// metrics.
func newServe(ctx context.Context, ec *engineConfig, log *slog.Logger) (*prometheus.Registry, []component, error) {
	in, err := openInfra(ctx, ec, log)
	if err != nil {
		return nil, nil, err
	}
	cat, err := newCatalogComponents(ec, in, log)
	if err != nil {
		closeAll(in.comps)
		return nil, nil, err
	}
	mux := api.NewInstrumentedMux(in.registry)
	ops := api.NewOps(api.OpsConfig{Checks: in.checks(), Gatherer: in.registry, Registerer: in.registry})
	ops.Register(mux)
	api.RegisterContracts(mux)
	if ec.runs("api") {
		cat.api.Register(mux)
		web.Register(mux) // the reports dashboard at /
	}
	comps := append(in.comps, component{name: "dependency-checks", run: ops.Run})
	if ec.runs("api") {
		comps = append(comps, cat.apiComps...)
	}
	for _, c := range cat.consumers {
		if ec.runs(c.name) {
			comps = append(comps, c)
		}
	}
	// The operations endpoints (/healthz, /readyz, /metrics) are served by
	// every process; the v1 API only where "api" runs.
	comps = append(comps, httpComponent(ec.HTTPAddr, ec.HTTPEdge, mux, in.registry, log))
	if ec.Demo && ec.runs("api") {
		comps = append(comps, demoComponent(ec, log))
	}
	if ec.PprofAddr != "" {
		comps = append(comps, pprofComponent(ec.PprofAddr, log))
	}
	return in.registry, comps, nil
}

// httpComponent serves h on addr within edge's bounds (timeouts, header
// size, connections per client); on stop it lets requests in flight
// finish.
func httpComponent(addr string, edge api.EdgeConfig, h http.Handler, reg prometheus.Registerer, log *slog.Logger) component {
	return component{name: "http", run: func(ctx context.Context) error {
		srv := api.NewHTTPServer(edge, h)
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return &startError{setting: "http-addr", err: err}
		}
		ln = api.LimitConnsPerClient(ln, edge.MaxConnsPerClient, reg)
		log.Info("http api listening", "addr", ln.Addr().String())
		errc := make(chan error, 1)
		go func() { errc <- srv.Serve(ln) }()
		select {
		case err := <-errc:
			return err
		case <-ctx.Done():
		}
		sctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	}}
}

// embeddedKafka is the embedded broker's configuration, its log under dir.
func (ec *engineConfig) embeddedKafka(dir string, log *slog.Logger) embedded.Config {
	return embedded.Config{DataDir: dir, Addr: ec.EmbeddedKafkaAddr, Brokers: ec.EmbeddedBrokers, SyncWrites: ec.EmbeddedFsync, Logger: log}
}

// runBroker runs only the embedded broker until stopped.
func runBroker(ctx context.Context, ec *engineConfig, log *slog.Logger, _ []string) error {
	dir := filepath.Join(ec.DataDir, "kafka")
	b, err := embedded.Start(ec.embeddedKafka(dir, log))
	if err != nil {
		return &startError{setting: "embedded-kafka-addr", err: err}
	}
	log.Info("embedded kafka broker started", "addrs", b.Addrs(), "data_dir", dir)
	<-ctx.Done()
	b.Close()
	log.Info("embedded kafka broker stopped")
	return nil
}

// runMigrate applies the ClickHouse migrations that are missing, then exits.
func runMigrate(ctx context.Context, ec *engineConfig, log *slog.Logger, _ []string) error {
	conn, err := openClickHouse(ctx, ec)
	if err != nil {
		return err
	}
	log.Info("clickhouse schema is current", "database", ec.ClickHouse.Auth.Database)
	return conn.Close()
}

// runTopics creates the missing event topics.
func runTopics(ctx context.Context, ec *engineConfig, log *slog.Logger, _ []string) error {
	store, comps, err := openKafka(ctx, ec, log, nil)
	if err != nil {
		return err
	}
	defer closeAll(comps)
	_ = store
	log.Info("event topics are in place", "topics", schemas.Topics())
	return nil
}
