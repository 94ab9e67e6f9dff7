package main

import (
	"encoding/xml"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// composeVar matches compose's interpolation: $$ (a literal $), ${NAME},
// ${NAME:-default}, ${NAME-default}, ${NAME:?error}, ${NAME?error}.
var composeVar = regexp.MustCompile(`\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}`)

// interpolate replaces compose's variables in s: a variable that must be
// set (:?) takes required(name), one with a default its default; it
// records every name in seen.
func interpolate(s string, required func(string) string, seen map[string]string) string {
	return composeVar.ReplaceAllStringFunc(s, func(m string) string {
		if m == "$$" {
			return "$"
		}
		g := composeVar.FindStringSubmatch(m)
		name, op, arg := g[1], g[2], g[3]
		seen[name] = op
		if strings.HasSuffix(op, "?") {
			return required(name)
		}
		return arg
	})
}

// interpolateTree interpolates every string of a decoded YAML document.
func interpolateTree(v any, f func(string) string) any {
	switch x := v.(type) {
	case string:
		return f(x)
	case []any:
		for i := range x {
			x[i] = interpolateTree(x[i], f)
		}
	case map[string]any:
		for k := range x {
			x[k] = interpolateTree(x[k], f)
		}
	}
	return v
}

// sampleSecret is what the test fills a required variable with: 64 hex
// characters, a valid master key and a valid password or token.
const sampleSecret = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"

// composeService is the part of a compose service the test checks.
type composeService struct {
	Image       string            `yaml:"image"`
	Command     []string          `yaml:"command"`
	Environment map[string]string `yaml:"environment"`
	Ports       []string          `yaml:"ports"`
	Volumes     []string          `yaml:"volumes"`
	DependsOn   map[string]struct {
		Condition string `yaml:"condition"`
	} `yaml:"depends_on"`
	Healthcheck map[string]any `yaml:"healthcheck"`
	ReadOnly    bool           `yaml:"read_only"`
}

func loadCompose(t *testing.T, dir string) (map[string]composeService, map[string]string) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(dir, "compose.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var tree map[string]any
	if err := yaml.Unmarshal(raw, &tree); err != nil {
		t.Fatalf("compose.yaml: %v", err)
	}
	seen := map[string]string{}
	tree = interpolateTree(tree, func(s string) string {
		return interpolate(s, func(string) string { return sampleSecret }, seen)
	}).(map[string]any)
	// Back to YAML, into the typed services (merge keys already resolved).
	b, err := yaml.Marshal(tree["services"])
	if err != nil {
		t.Fatal(err)
	}
	var services map[string]composeService
	if err := yaml.Unmarshal(b, &services); err != nil {
		t.Fatalf("compose.yaml services: %v", err)
	}
	return services, seen
}

// TestComposeFile checks deploy/docker/compose.yaml against the binary and
// the files it mounts.
func TestComposeFile(t *testing.T) {
	dir := filepath.Join(deployDir, "docker")
	services, vars := loadCompose(t, dir)

	// Every variable the file uses is in the template of .env, and the
	// template's ATTRIB_* names are settings.
	keys, _ := readEnvFile(t, filepath.Join(dir, "env.example"))
	for name := range vars {
		if !slices.Contains(keys, name) {
			t.Errorf("compose.yaml uses ${%s}, which env.example does not list", name)
		}
	}
	for _, k := range keys {
		if _, used := vars[k]; !used {
			t.Errorf("env.example lists %s, which compose.yaml does not use", k)
		}
	}
	checkEnvNames(t, "env.example", keys, "REDIS_PASSWORD", "CLICKHOUSE_PASSWORD", "GRAFANA_ADMIN_PASSWORD", "IMAGE_TAG", "KAFKA_CLUSTER_ID")

	var engineImage string
	components := map[string]string{} // component -> service
	oneShots := map[string]string{}   // subcommand -> service
	var port int
	var ec0 *engineConfig
	names := make([]string, 0, len(services))
	for name := range services {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		svc := services[name]
		if !strings.HasPrefix(svc.Image, "attrib:") {
			continue
		}
		where := "compose service " + name
		if engineImage == "" {
			engineImage = svc.Image
		} else if svc.Image != engineImage {
			t.Errorf("%s runs image %s, the others %s", where, svc.Image, engineImage)
		}
		envNames := make([]string, 0, len(svc.Environment))
		for k := range svc.Environment {
			envNames = append(envNames, k)
		}
		checkEnvNames(t, where, envNames)
		for k, v := range svc.Environment {
			if s := settingsByEnv()[k]; s != nil && s.secret && v != "" && !strings.Contains(v, sampleSecret) {
				t.Errorf("%s: the secret %s is written in compose.yaml (%q): take it from .env", where, k, v)
			}
		}
		ec, positional, err := parseCommandLine(svc.Command, env2(svc.Environment))
		if err != nil {
			t.Errorf("%s: %v", where, err)
			continue
		}
		if len(positional) > 0 {
			t.Errorf("%s: unexpected arguments %v", where, positional)
		}
		if !svc.ReadOnly {
			t.Errorf("%s: want read_only: true (nothing is written outside volumes)", where)
		}
		if ec.SecretKey == "" || ec.AdminToken == "" {
			t.Errorf("%s: the admin token and the master key must come from .env, or each process makes its own", where)
		}
		switch svc.Command[0] {
		case "serve":
			c := onlyComponent(t, where, ec)
			if c != name {
				t.Errorf("%s runs component %q: name the service after its component", where, c)
			}
			if prev, dup := components[c]; dup {
				t.Errorf("component %s runs in %s and %s", c, prev, name)
			}
			components[c] = name
			if port == 0 {
				port, ec0 = httpPort(t, ec), ec
			} else if httpPort(t, ec) != port {
				t.Errorf("%s listens on %d, the others on %d", where, httpPort(t, ec), port)
			}
			for _, dep := range []string{"attrib-topics", "attrib-migrate"} {
				if svc.DependsOn[dep].Condition != "service_completed_successfully" {
					t.Errorf("%s: want depends_on %s: service_completed_successfully, got %+v", where, dep, svc.DependsOn[dep])
				}
			}
			if svc.Healthcheck != nil {
				t.Errorf("%s overrides the image's health check: %v", where, svc.Healthcheck)
			}
			for _, p := range svc.Ports {
				parts := strings.Split(strings.TrimSuffix(p, "/tcp"), ":")
				if parts[len(parts)-1] != strconv.Itoa(port) {
					t.Errorf("%s publishes %q: the container port must be %d, the port of ATTRIB_HTTP_ADDR", where, p, port)
				}
			}
		default:
			oneShots[svc.Command[0]] = name
			if svc.Healthcheck["disable"] != true {
				t.Errorf("%s (one-shot %s): want healthcheck: {disable: true}", where, svc.Command[0])
			}
		}
	}
	for _, c := range componentNames {
		if components[c] == "" {
			t.Errorf("component %s has no service of its own", c)
		}
	}
	for _, sub := range []string{"topics", "migrate"} {
		if oneShots[sub] == "" {
			t.Errorf("no one-shot service runs attrib %s", sub)
		}
	}
	if ec0 == nil {
		t.Fatal("no engine service")
	}

	// The API's port is published.
	if api := services["api"]; len(api.Ports) == 0 {
		t.Errorf("compose service api publishes no port")
	}

	// The servers the engine is pointed at are services of the file.
	for _, b := range ec0.KafkaBrokers {
		host, p, _ := net.SplitHostPort(b)
		adv := services[host].Environment["KAFKA_ADVERTISED_LISTENERS"]
		if adv != "PLAINTEXT://"+net.JoinHostPort(host, p) {
			t.Errorf("broker %s: service %s advertises %q", b, host, adv)
		}
	}
	if host, _, _ := net.SplitHostPort(ec0.RedisOptions.Addr); services[host].Image == "" {
		t.Errorf("ATTRIB_REDIS_URL names %s, which is no service", host)
	}
	var chHosts []string
	for _, a := range ec0.ClickHouse.Addr {
		host, _, _ := net.SplitHostPort(a)
		if services[host].Image == "" {
			t.Errorf("ATTRIB_CLICKHOUSE_URL names %s, which is no service", a)
		}
		chHosts = append(chHosts, a)
	}
	checkClickHouseCluster(t, dir, ec0.ClickHouseCluster, chHosts, services)

	// The files it mounts from the repository exist.
	for _, name := range names {
		for _, v := range services[name].Volumes {
			src, _, _ := strings.Cut(v, ":")
			if strings.HasPrefix(src, "./") || strings.HasPrefix(src, "../") {
				if _, err := os.Stat(filepath.Join(dir, src)); err != nil {
					t.Errorf("compose service %s mounts %s: %v", name, src, err)
				}
			}
		}
	}

	// Prometheus scrapes every component's service at the engine's port,
	// and loads the engine's rules.
	checkPrometheusTargets(t, filepath.Join(dir, "prometheus.yml"), components, port)
	promtool(t, "check", "config", "deploy/docker/prometheus.yml")
}

// checkClickHouseCluster compares the cluster the engine is given with the
// servers' configuration (clickhouse/cluster.xml) and Keeper's.
func checkClickHouseCluster(t *testing.T, dir, cluster string, urlHosts []string, services map[string]composeService) {
	t.Helper()
	type node struct {
		Host string `xml:"host"`
		Port string `xml:"port"`
	}
	var cfg struct {
		RemoteServers struct {
			Clusters []struct {
				XMLName xml.Name
				Shards  []struct {
					Replicas []node `xml:"replica"`
				} `xml:"shard"`
			} `xml:",any"`
		} `xml:"remote_servers"`
		ZooKeeper struct {
			Nodes []node `xml:"node"`
		} `xml:"zookeeper"`
	}
	raw, err := os.ReadFile(filepath.Join(dir, "clickhouse", "cluster.xml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := xml.Unmarshal(raw, &cfg); err != nil {
		t.Fatalf("clickhouse/cluster.xml: %v", err)
	}
	var replicas []string
	for _, c := range cfg.RemoteServers.Clusters {
		if c.XMLName.Local != cluster {
			t.Errorf("clickhouse/cluster.xml defines cluster %q; the engine is given %q", c.XMLName.Local, cluster)
			continue
		}
		if len(c.Shards) != 1 {
			t.Errorf("cluster %s has %d shards; the engine supports one", cluster, len(c.Shards))
		}
		for _, s := range c.Shards {
			for _, r := range s.Replicas {
				replicas = append(replicas, net.JoinHostPort(r.Host, r.Port))
			}
		}
	}
	if !slices.Equal(replicas, urlHosts) {
		t.Errorf("ATTRIB_CLICKHOUSE_URL lists %v; cluster %s has the replicas %v", urlHosts, cluster, replicas)
	}
	for _, r := range replicas {
		host, _, _ := net.SplitHostPort(r)
		if services[host].Environment["CLICKHOUSE_REPLICA"] != host {
			t.Errorf("service %s: CLICKHOUSE_REPLICA (its {replica} macro and interserver host) = %q, want %q", host, services[host].Environment["CLICKHOUSE_REPLICA"], host)
		}
	}
	var keeper struct {
		Server struct {
			TCPPort string `xml:"tcp_port"`
		} `xml:"keeper_server"`
	}
	raw, err = os.ReadFile(filepath.Join(dir, "clickhouse", "keeper.xml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := xml.Unmarshal(raw, &keeper); err != nil {
		t.Fatalf("clickhouse/keeper.xml: %v", err)
	}
	if len(cfg.ZooKeeper.Nodes) == 0 {
		t.Errorf("clickhouse/cluster.xml names no Keeper")
	}
	for _, n := range cfg.ZooKeeper.Nodes {
		if services[n.Host].Image == "" || n.Port != keeper.Server.TCPPort {
			t.Errorf("clickhouse/cluster.xml's Keeper %s:%s: want a service of the file on keeper.xml's port %s", n.Host, n.Port, keeper.Server.TCPPort)
		}
	}
}

// checkPrometheusTargets checks that the scrape job finds each component's
// service at the engine's HTTP port, under a job name the rules expect.
func checkPrometheusTargets(t *testing.T, path string, components map[string]string, port int) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		RuleFiles     []string `yaml:"rule_files"`
		ScrapeConfigs []struct {
			JobName      string `yaml:"job_name"`
			MetricsPath  string `yaml:"metrics_path"`
			DNSSDConfigs []struct {
				Names []string `yaml:"names"`
				Port  int      `yaml:"port"`
			} `yaml:"dns_sd_configs"`
		} `yaml:"scrape_configs"`
	}
	if err := yaml.Unmarshal(raw, &cfg); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	var scraped []string
	for _, sc := range cfg.ScrapeConfigs {
		if !strings.HasPrefix(sc.JobName, "attrib") {
			t.Errorf("%s: job %q: the alert rules select jobs named attrib*", path, sc.JobName)
		}
		if sc.MetricsPath != "/metrics" {
			t.Errorf("%s: job %s scrapes %q, want /metrics", path, sc.JobName, sc.MetricsPath)
		}
		for _, d := range sc.DNSSDConfigs {
			if d.Port != port {
				t.Errorf("%s: job %s scrapes port %d, the engine listens on %d", path, sc.JobName, d.Port, port)
			}
			scraped = append(scraped, d.Names...)
		}
	}
	var want []string
	for _, svc := range components {
		want = append(want, svc)
	}
	sort.Strings(want)
	sort.Strings(scraped)
	if !slices.Equal(scraped, want) {
		t.Errorf("%s scrapes %v, want every component's service %v", path, scraped, want)
	}
	if len(cfg.RuleFiles) == 0 {
		t.Errorf("%s loads no rule files", path)
	}
}
