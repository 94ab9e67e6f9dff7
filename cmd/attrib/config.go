package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/redis/go-redis/v9"

	"github.com/attrib-engine/attrib/api"
	"github.com/attrib-engine/attrib/credentials"
	"github.com/attrib-engine/attrib/ratelimit"
	"github.com/attrib-engine/attrib/readmodel"
)

// setting is one configuration value: a flag with an environment fallback.
type setting struct {
	flag   string
	env    string
	def    string
	usage  string
	secret bool
	value  string
	source string // "flag", "env" or "default"
	isBool bool
}

// config is the engine's configuration. Precedence: flag, then environment,
// then default. Only package main reads the environment.
type config struct {
	settings []*setting
	byFlag   map[string]*setting
}

func newConfig() *config {
	c := &config{byFlag: map[string]*setting{}}
	add := func(s setting) {
		sp := &s
		c.settings = append(c.settings, sp)
		c.byFlag[s.flag] = sp
	}
	add(setting{flag: "kafka-brokers", env: "ATTRIB_KAFKA_BROKERS", usage: "comma-separated Kafka bootstrap brokers, host:port; empty: run the embedded broker"})
	add(setting{flag: "kafka-partitions", env: "ATTRIB_KAFKA_PARTITIONS", def: "8", usage: "partitions of the event topics the engine creates"})
	add(setting{flag: "kafka-replication", env: "ATTRIB_KAFKA_REPLICATION", def: "0", usage: "replication factor of created topics; 0: min(3, brokers)"})
	add(setting{flag: "kafka-compression", env: "ATTRIB_KAFKA_COMPRESSION", def: "zstd", usage: "codec of the batches the engine produces: zstd, lz4, snappy, gzip or none (records of any codec are read)"})
	add(setting{flag: "embedded-kafka-addr", env: "ATTRIB_EMBEDDED_KAFKA_ADDR", def: "127.0.0.1:19092", usage: "listen address of the embedded broker (used when no brokers are given)"})
	add(setting{flag: "embedded-kafka-brokers", env: "ATTRIB_EMBEDDED_KAFKA_BROKERS", def: "1", usage: "brokers of the embedded cluster, listening on consecutive ports from --embedded-kafka-addr's (all free ports when it is 0); one process and one copy of the log whatever the number"})
	add(setting{flag: "embedded-kafka-fsync", env: "ATTRIB_EMBEDDED_KAFKA_FSYNC", def: "true", isBool: true, usage: "fsync every batch the embedded broker acknowledges"})
	add(setting{flag: "redis-url", env: "ATTRIB_REDIS_URL", def: "redis://127.0.0.1:6379/0", secret: true, usage: "Redis URL, redis://[user:password@]host:port/db (rediss:// for TLS)"})
	add(setting{flag: "redis-cluster", env: "ATTRIB_REDIS_CLUSTER", def: "false", isBool: true, usage: "--redis-url names a node (or the configuration endpoint) of a Redis Cluster"})
	add(setting{flag: "clickhouse-url", env: "ATTRIB_CLICKHOUSE_URL", def: "clickhouse://127.0.0.1:9000/default", secret: true, usage: "ClickHouse native-protocol DSN, clickhouse://[user:password@]host:9000/database"})
	add(setting{flag: "clickhouse-cluster", env: "ATTRIB_CLICKHOUSE_CLUSTER", usage: "ClickHouse cluster (remote_servers name, one shard) whose replicas --clickhouse-url names: the schema is created ON CLUSTER with Replicated tables; empty: a single server"})
	add(setting{flag: "http-addr", env: "ATTRIB_HTTP_ADDR", def: ":8080", usage: "listen address of the HTTP API"})
	addEdgeSettings(add)
	add(setting{flag: "data-dir", env: "ATTRIB_DATA_DIR", def: ".local/data", usage: "directory for the embedded broker's log and local files"})
	add(setting{flag: "admin-token", env: "ATTRIB_ADMIN_TOKEN", secret: true, usage: "bearer token of the operator (bootstrap endpoints); empty: <data-dir>/admin.token, created on first start"})
	add(setting{flag: "secret-key", env: "ATTRIB_SECRET_KEY", secret: true, usage: "master key (64+ hex chars) that brands' webhook secrets derive from; empty: <data-dir>/secret.key, created on first start"})
	add(setting{flag: "smtp-url", env: "ATTRIB_SMTP_URL", secret: true, usage: "SMTP server for creators' emails, smtp://user:pass@host:587?from=noreply@example.com (smtps:// for TLS); empty: .eml files under <data-dir>/mail"})
	add(setting{flag: "redis-prefix", env: "ATTRIB_REDIS_PREFIX", def: "attrib:", usage: "prefix of every Redis key of the projections"})
	add(setting{flag: "demo", env: "ATTRIB_DEMO", def: "false", isBool: true, usage: "serve: once the API is ready, seed demo data (brands, creators, orders) unless <data-dir>/demo.seeded exists"})
	add(setting{flag: "allow-backdating", env: "ATTRIB_ALLOW_BACKDATING", def: "false", isBool: true, usage: "serve: let the operator date catalog changes in the past (header X-Occurred-At), to seed demo or test data; --demo turns it on"})
	add(setting{flag: "url", env: "ATTRIB_URL", usage: "demo: base URL of the running engine to seed; empty: http://127.0.0.1:<port of --http-addr>"})
	add(setting{flag: "components", env: "ATTRIB_COMPONENTS", def: "all", usage: "serve: which components this process runs, comma-separated: api, commands-processor, redis-catalog-projection, email-outbox, attribution-worker, clickhouse-projector, clickhouse-summary; or all"})
	add(setting{flag: "log-level", env: "ATTRIB_LOG_LEVEL", def: "info", usage: "debug, info, warn or error"})
	add(setting{flag: "log-format", env: "ATTRIB_LOG_FORMAT", def: "text", usage: "text or json"})
	add(setting{flag: "dependency-timeout", env: "ATTRIB_DEPENDENCY_TIMEOUT", def: "15s", usage: "how long start-up waits for Kafka, Redis and ClickHouse to answer"})
	add(setting{flag: "summary-refresh", env: "ATTRIB_SUMMARY_REFRESH", def: "15s", usage: "how often the clickhouse-summary component brings the reports' daily roll-ups up to date (days it has not caught up with are read from the orders, exactly but slower)"})
	add(setting{flag: "state-retention", env: "ATTRIB_STATE_RETENTION", def: "720h", usage: "how long a settled order's state stays in Redis after its last event before the attribution worker moves it to ClickHouse (a later event brings it back); 0: every order stays in Redis"})
	add(setting{flag: "state-evict-interval", env: "ATTRIB_STATE_EVICT_INTERVAL", def: "1m", usage: "how often the attribution worker moves the states whose --state-retention ended to ClickHouse, one insert per partition each time (ClickHouse wants few, large inserts)"})
	add(setting{flag: "webhook-rate-limit", env: "ATTRIB_WEBHOOK_RATE_LIMIT", def: "200", usage: "requests a second each brand may send to the webhook, sustained (a batch counts once); 0: no limit"})
	add(setting{flag: "webhook-burst", env: "ATTRIB_WEBHOOK_BURST", def: "5000", usage: "webhook requests a brand may send at once before --webhook-rate-limit paces it"})
	add(setting{flag: "api-rate-limit", env: "ATTRIB_API_RATE_LIMIT", def: "50", usage: "requests a second each token (brand, creator, analyst, operator) may make to the rest of the API, sustained; 0: no limit"})
	add(setting{flag: "api-burst", env: "ATTRIB_API_BURST", def: "500", usage: "API requests a token may make at once before --api-rate-limit paces it"})
	add(setting{flag: "pprof-addr", env: "ATTRIB_PPROF_ADDR", usage: "serve: listen address of Go's profiling endpoints (/debug/pprof/), e.g. 127.0.0.1:6060; empty: none. Bind it to loopback: profiles show the process's internals"})
	add(setting{flag: "report-freshness-wait", env: "ATTRIB_REPORT_FRESHNESS_WAIT", def: "3s", usage: "longest a report waits for ClickHouse to hold every event appended before the request (read-your-writes); 0 disables the wait"})
	return c
}

// bind registers the settings on fs, with defaults taken from the
// environment where set.
func (c *config) bind(fs *flag.FlagSet, getenv func(string) string) {
	for _, s := range c.settings {
		s.value, s.source = s.def, "default"
		if v := getenv(s.env); v != "" {
			s.value, s.source = v, "env"
		}
		usage := fmt.Sprintf("%s (env %s)", s.usage, s.env)
		if s.isBool {
			fs.BoolFunc(s.flag, usage, s.setter()) // "-flag" alone means true
		} else {
			fs.Func(s.flag, usage, s.setter())
		}
		fs.Lookup(s.flag).DefValue = s.def
	}
}

func (s *setting) setter() func(string) error {
	return func(v string) error {
		s.value, s.source = v, "flag"
		return nil
	}
}

func (c *config) get(flagName string) string { return c.byFlag[flagName].value }

// settingError names the setting that is wrong, both as flag and as env.
func (c *config) settingError(flagName string, err error) error {
	s := c.byFlag[flagName]
	if s.secret && s.value != "" {
		// Parse errors quote the raw value; never print a secret.
		err = errors.New(strings.ReplaceAll(err.Error(), s.value, maskedValue(s)))
	}
	return fmt.Errorf("setting --%s (%s=%q): %w", s.flag, s.env, maskedValue(s), err)
}

// componentNames are the components serve can run, one --components value
// each.
var componentNames = []string{"api", "commands-processor", "redis-catalog-projection", "email-outbox", "attribution-worker", "clickhouse-projector", "clickhouse-summary"}

// runs reports whether serve runs the named component.
func (ec *engineConfig) runs(name string) bool { return ec.Components == nil || ec.Components[name] }

// engineConfig is the validated, typed configuration.
type engineConfig struct {
	KafkaBrokers      []string
	KafkaPartitions   int
	KafkaReplication  int
	KafkaCompression  string
	EmbeddedKafkaAddr string
	EmbeddedBrokers   int
	EmbeddedFsync     bool
	RedisOptions      *redis.Options
	RedisCluster      bool
	// Components is the set of components serve runs; nil means all.
	Components        map[string]bool
	ClickHouse        *clickhouse.Options
	ClickHouseCluster string // the cluster the schema runs on; "" for a single server
	HTTPAddr          string
	HTTPEdge          api.EdgeConfig // the HTTP listener's bounds
	DataDir           string
	AdminToken        string
	SecretKey         string
	SMTPURL           string
	RedisPrefix       string
	LogLevel          string
	LogFormat         string
	DependencyTimeout time.Duration
	// FreshnessWait bounds the reports' read-your-writes wait; 0: none.
	FreshnessWait time.Duration
	// SummaryRefresh is the clickhouse-summary component's interval.
	SummaryRefresh time.Duration
	// StateRetention is the attribution worker's Config.Retention; 0: no
	// order leaves Redis.
	StateRetention time.Duration
	// StateEvictInterval is the attribution worker's Config.EvictInterval.
	StateEvictInterval time.Duration
	Demo               bool
	DemoURL            string
	// AllowBackdating lets the operator date catalog changes in the past
	// (api.HeaderOccurredAt); Demo implies it.
	AllowBackdating bool
	// PprofAddr is where serve exposes /debug/pprof/; empty: nowhere.
	PprofAddr string

	// WebhookLimit and APILimit are the rate limits per brand on the
	// webhook and per token on the rest of the API.
	WebhookLimit, APILimit ratelimit.Limit
}

// parse validates every setting and returns the typed configuration; the
// error names the first bad setting.
func (c *config) parse() (*engineConfig, error) {
	ec := &engineConfig{
		HTTPAddr:    c.get("http-addr"),
		AdminToken:  c.get("admin-token"),
		SecretKey:   c.get("secret-key"),
		SMTPURL:     c.get("smtp-url"),
		RedisPrefix: c.get("redis-prefix"),
	}
	var errs []error
	check := func(flagName string, err error) {
		if err != nil {
			errs = append(errs, c.settingError(flagName, err))
		}
	}
	if v := strings.TrimSpace(c.get("kafka-brokers")); v != "" {
		for _, b := range strings.Split(v, ",") {
			b = strings.TrimSpace(b)
			if b == "" {
				continue
			}
			if err := checkHostPort(b); err != nil {
				check("kafka-brokers", err)
				break
			}
			ec.KafkaBrokers = append(ec.KafkaBrokers, b)
		}
	}
	var err error
	ec.KafkaPartitions = c.intSetting("kafka-partitions", 1, "must be at least 1", check)
	ec.KafkaReplication = c.intSetting("kafka-replication", 0, "must be 0 (automatic) or more", check)
	ec.KafkaCompression = c.get("kafka-compression")
	if !slices.Contains([]string{"zstd", "lz4", "snappy", "gzip", "none"}, ec.KafkaCompression) {
		check("kafka-compression", errors.New("want zstd, lz4, snappy, gzip or none"))
	}
	ec.EmbeddedKafkaAddr = c.get("embedded-kafka-addr")
	check("embedded-kafka-addr", checkHostPort(ec.EmbeddedKafkaAddr))
	ec.EmbeddedBrokers = c.intSetting("embedded-kafka-brokers", 1, "must be at least 1", check)
	ec.EmbeddedFsync, err = strconv.ParseBool(c.get("embedded-kafka-fsync"))
	check("embedded-kafka-fsync", err)
	ec.RedisOptions, err = redis.ParseURL(c.get("redis-url"))
	check("redis-url", err)
	ec.RedisCluster, err = strconv.ParseBool(c.get("redis-cluster"))
	check("redis-cluster", err)
	if err == nil && ec.RedisCluster && ec.RedisOptions != nil && ec.RedisOptions.DB != 0 {
		check("redis-url", errors.New("a Redis Cluster has only database 0"))
	}
	ec.ClickHouse, err = parseClickHouseURL(c.get("clickhouse-url"))
	check("clickhouse-url", err)
	if ec.ClickHouseCluster = strings.TrimSpace(c.get("clickhouse-cluster")); ec.ClickHouseCluster != "" {
		check("clickhouse-cluster", readmodel.CheckCluster(ec.ClickHouseCluster))
	}
	if _, _, err := net.SplitHostPort(ec.HTTPAddr); err != nil {
		check("http-addr", err)
	}
	ec.HTTPEdge = c.parseEdge(check)
	ec.DataDir, err = filepath.Abs(c.get("data-dir"))
	check("data-dir", err)
	if ec.SecretKey != "" {
		_, err := credentials.ParseMasterKey(ec.SecretKey)
		check("secret-key", err)
	}
	if ec.RedisPrefix == "" || !strings.HasSuffix(ec.RedisPrefix, ":") {
		// Rebuilds drop every key matching "<prefix>*"; the email markers,
		// reply queues, dedupe marks and worker state live under
		// "<prefix without colon>-…:", which a prefix without its colon
		// would match too.
		check("redis-prefix", errors.New(`must end with ":" (e.g. "attrib:"): rebuilds drop every key under it`))
	}
	ec.Demo, err = strconv.ParseBool(c.get("demo"))
	check("demo", err)
	ec.AllowBackdating, err = strconv.ParseBool(c.get("allow-backdating"))
	check("allow-backdating", err)
	ec.AllowBackdating = ec.AllowBackdating || ec.Demo
	ec.DemoURL = strings.TrimSuffix(c.get("url"), "/")
	if ec.PprofAddr = c.get("pprof-addr"); ec.PprofAddr != "" {
		check("pprof-addr", checkHostPort(ec.PprofAddr))
	}
	if ec.DemoURL != "" {
		if u, err := url.Parse(ec.DemoURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			check("url", errors.New("want http://host:port"))
		}
	}
	if v := strings.TrimSpace(c.get("components")); v != "" && v != "all" {
		ec.Components = map[string]bool{}
		for _, name := range strings.Split(v, ",") {
			name = strings.TrimSpace(name)
			if !slices.Contains(componentNames, name) {
				check("components", fmt.Errorf("unknown component %q; want all or some of %s", name, strings.Join(componentNames, ", ")))
				break
			}
			ec.Components[name] = true
		}
	}
	ec.LogLevel = c.get("log-level")
	switch ec.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		check("log-level", errors.New("want debug, info, warn or error"))
	}
	ec.LogFormat = c.get("log-format")
	if ec.LogFormat != "text" && ec.LogFormat != "json" {
		check("log-format", errors.New("want text or json"))
	}
	ec.DependencyTimeout = c.durationSetting("dependency-timeout", false, check)
	ec.FreshnessWait = c.durationSetting("report-freshness-wait", true, check)
	ec.SummaryRefresh = c.durationSetting("summary-refresh", false, check)
	ec.StateRetention = c.durationSetting("state-retention", true, check)
	ec.StateEvictInterval = c.durationSetting("state-evict-interval", false, check)
	ec.WebhookLimit = c.parseLimit("webhook-rate-limit", "webhook-burst", check)
	ec.APILimit = c.parseLimit("api-rate-limit", "api-burst", check)
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return ec, nil
}

// intSetting reads the whole number of setting name; below min it reports
// tooSmall through check.
func (c *config) intSetting(name string, min int, tooSmall string, check func(string, error)) int {
	n, err := strconv.Atoi(c.get(name))
	if err == nil && n < min {
		err = errors.New(tooSmall)
	}
	check(name, err)
	return n
}

// durationSetting reads the duration of setting name, reporting through
// check a negative one, and a zero one unless zeroOK.
func (c *config) durationSetting(name string, zeroOK bool, check func(string, error)) time.Duration {
	d, err := time.ParseDuration(c.get(name))
	switch {
	case err != nil:
	case zeroOK && d < 0:
		err = errors.New("must not be negative")
	case !zeroOK && d <= 0:
		err = errors.New("must be positive")
	}
	check(name, err)
	return d
}

// parseLimit reads a rate limit from its rate and burst settings,
// reporting a bad one through check.
func (c *config) parseLimit(rateFlag, burstFlag string, check func(string, error)) ratelimit.Limit {
	rate, err := strconv.ParseFloat(c.get(rateFlag), 64)
	if err != nil {
		check(rateFlag, errors.New("want requests a second, a number (0: no limit)"))
		return ratelimit.Limit{}
	}
	burst, err := strconv.Atoi(c.get(burstFlag))
	if err != nil {
		check(burstFlag, errors.New("want a whole number of requests"))
		return ratelimit.Limit{}
	}
	l := ratelimit.Limit{Rate: rate, Burst: burst}
	var le *ratelimit.LimitError
	if err := l.Validate(); errors.As(err, &le) && le.Field == "rate" {
		check(rateFlag, err)
	} else if err != nil {
		check(burstFlag, err)
	}
	return l
}

func checkHostPort(addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("want host:port: %w", err)
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < 0 || p > 65535 {
		return fmt.Errorf("port %q is not a number in 0..65535", port)
	}
	return nil
}

// schema returns the options of the read model's schema functions:
// OnCluster when --clickhouse-cluster is set.
func (ec *engineConfig) schema() []readmodel.Option {
	if ec.ClickHouseCluster == "" {
		return nil
	}
	return []readmodel.Option{readmodel.OnCluster(ec.ClickHouseCluster)}
}

// parseClickHouseURL accepts clickhouse://user:pass@host:port/db?opts. Only
// the native protocol is supported: the HTTP one fails on ClickHouse 18.16.
func parseClickHouseURL(raw string) (*clickhouse.Options, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, err
	}
	if u.Scheme != "clickhouse" && u.Scheme != "tcp" {
		return nil, fmt.Errorf("scheme %q: want clickhouse:// (native protocol)", u.Scheme)
	}
	if u.Host == "" {
		return nil, errors.New("no host")
	}
	opts, err := clickhouse.ParseDSN(raw)
	if err != nil {
		return nil, err
	}
	opts.Protocol = clickhouse.Native
	return opts, nil
}

// maskedValue shows a setting's value with secrets hidden: the password of a
// URL, or the whole value of a token.
func maskedValue(s *setting) string {
	if !s.secret || s.value == "" {
		return s.value
	}
	if u, err := url.Parse(s.value); err == nil && u.Scheme != "" && u.Host != "" {
		if _, has := u.User.Password(); has {
			u.User = url.UserPassword(u.User.Username(), "xxxxx")
		}
		return u.String()
	}
	return "xxxxx (set)"
}

// print writes every setting with its value (secrets masked) and source.
func (c *config) print(w io.Writer) {
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SETTING\tENV\tVALUE\tSOURCE")
	sorted := append([]*setting(nil), c.settings...)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].flag < sorted[j].flag })
	for _, s := range sorted {
		fmt.Fprintf(tw, "--%s\t%s\t%s\t%s\n", s.flag, s.env, maskedValue(s), s.source)
	}
	_ = tw.Flush()
}
