package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"
)

// healthcheckOptions are the flags of `attrib healthcheck`.
type healthcheckOptions struct {
	path    string
	timeout time.Duration
}

// defaultHealthcheckTimeout bounds one probe: longer than /readyz's own
// check timeout (2 s per dependency, run concurrently), shorter than the
// 5 s a container runtime gives the probe, so a hung engine is reported
// by this command rather than by a killed probe.
const defaultHealthcheckTimeout = 4 * time.Second

// healthcheckCommand is `attrib healthcheck`: the probe of a container
// image that has no curl. It asks the engine on this machine, at the port
// of --http-addr (so the probe follows the server's own setting), and
// exits 0 only on a 200.
func healthcheckCommand() command {
	o := &healthcheckOptions{}
	return command{
		name:    "healthcheck",
		summary: "GET /readyz (or --path) of the engine listening on --http-addr's port on this machine; exit 0 on 200, else 1 printing the answer: a container's health check",
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&o.path, "path", "/readyz", "healthcheck: the path to ask, /readyz (Kafka, Redis and ClickHouse answer) or /healthz (the process is up)")
			fs.DurationVar(&o.timeout, "timeout", defaultHealthcheckTimeout, "healthcheck: longest the answer may take")
		},
		run: func(ctx context.Context, ec *engineConfig, _ *slog.Logger, args []string) error {
			if len(args) > 0 {
				return fmt.Errorf("unexpected argument %q: usage: attrib healthcheck [--path /readyz] [--timeout 4s]", args[0])
			}
			return probe(ctx, localURL(ec.HTTPAddr), o)
		},
	}
}

// probe GETs o.path of the engine at base: nil on a 200 within o.timeout,
// else an error that says what came instead.
func probe(ctx context.Context, base string, o *healthcheckOptions) error {
	if !strings.HasPrefix(o.path, "/") {
		return fmt.Errorf("--path %q: want an absolute path such as /readyz", o.path)
	}
	if o.timeout <= 0 {
		return fmt.Errorf("--timeout %v: must be positive", o.timeout)
	}
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	url := base + o.path
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("healthcheck %s: %w", url, err)
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("healthcheck %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		return nil
	}
	// A 503 of /readyz names the dependency that does not answer; a
	// container runtime keeps the probe's output, so show it, bounded.
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	return fmt.Errorf("healthcheck %s: %s: %s", url, resp.Status, strings.TrimSpace(string(body)))
}
