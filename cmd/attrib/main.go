// Command attrib is the promo-code order attribution engine: one binary whose
// subcommands run every component together (serve) or one at a time, and the
// operator's tools.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

type command struct {
	name    string
	summary string
	run     func(ctx context.Context, cfg *engineConfig, log *slog.Logger, args []string) error
	// noConfig commands parse their own flags only.
	noConfig bool
	// flags, when set, adds the command's own flags to the settings'.
	flags func(fs *flag.FlagSet)
}

func subcommands() []command {
	return []command{
		{name: "serve", summary: "run every component in one process: the HTTP API on --http-addr, the embedded broker when no brokers are given", run: runServe},
		{name: "broker", summary: "run only the embedded Kafka-protocol broker (for several engine processes on one machine)", run: runBroker},
		{name: "rebuild", summary: "rebuild projections from the log: `attrib rebuild redis` drops the Redis projections and replays the log into them; `attrib rebuild clickhouse` replays it into fresh tables and swaps them in; `attrib rebuild summary` brings the reports' daily roll-ups up to date", run: runRebuild},
		{name: "migrate", summary: "apply the missing ClickHouse migrations (serve applies them at start too), then exit", run: runMigrate},
		{name: "topics", summary: "create the event topics that are missing, then exit", run: runTopics},
		{name: "demo", summary: "seed a running engine (started with --allow-backdating) over HTTP with demo brands, creators and 60 days of orders (--url, --admin-token); prints a sign-in link per role, tokens go to <data-dir>/demo.json", run: runDemo},
		loadgenCommand(),
		healthcheckCommand(),
		{name: "config", summary: "print the configuration with secrets masked, and where each value comes from", run: nil},
		{name: "version", summary: "print the version", run: nil, noConfig: true},
	}
}

func main() {
	// The engine's hot paths (the worker, the projector, the webhook)
	// allocate per event while their live heap stays small, so collecting
	// at 4x the live heap instead of 2x saves CPU per event. GOGC and
	// GOMEMLIMIT in the environment win.
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(defaultGCPercent)
	}
	os.Exit(run(os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
}

// defaultGCPercent is the GOGC the binary runs with when GOGC is not set.
const defaultGCPercent = 400

// run is main without the process: it returns the exit code. SIGINT and
// SIGTERM stop it gracefully.
func run(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	return runContext(ctx, args, getenv, stdout, stderr)
}

// runContext is run until ctx ends.
func runContext(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(stderr)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	name := args[0]
	var cmd *command
	for _, c := range subcommands() {
		if c.name == name {
			cmd = &c
			break
		}
	}
	if cmd == nil {
		fmt.Fprintf(stderr, "attrib: unknown command %q\n\n", name)
		usage(stderr)
		return 2
	}
	if name == "version" {
		fmt.Fprintln(stdout, "attrib", version)
		return 0
	}
	cfg := newConfig()
	fs := flag.NewFlagSet("attrib "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg.bind(fs, getenv)
	if cmd.flags != nil {
		cmd.flags(fs)
	}
	positional, err := parseInterspersed(fs, args[1:])
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if name == "config" {
		cfg.print(stdout)
		if _, err := cfg.parse(); err != nil {
			fmt.Fprintf(stderr, "attrib: invalid configuration:\n%v\n", err)
			return 1
		}
		return 0
	}
	ec, err := cfg.parse()
	if err != nil {
		fmt.Fprintf(stderr, "attrib: invalid configuration:\n%v\n", err)
		return 1
	}
	log := newLogger(stderr, ec)
	progressOut = stderr
	demoOut = stdout
	slog.SetDefault(log)
	if err := cmd.run(ctx, ec, log, positional); err != nil {
		var se *startError
		if errors.As(err, &se) {
			fmt.Fprintf(stderr, "attrib %s: %v\n", name, cfg.settingError(se.setting, se.err))
		} else {
			fmt.Fprintf(stderr, "attrib %s: %v\n", name, err)
		}
		return 1
	}
	return 0
}

// parseInterspersed parses flags that may come before, between or after
// positional arguments ("rebuild redis --data-dir x"), returning the
// positional ones in order.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return positional, nil
		}
		positional = append(positional, args[0])
		args = args[1:]
	}
}

// startError is a failure to start that is due to one setting, such as an
// unreachable dependency; the message names the setting.
type startError struct {
	setting string
	err     error
}

func (e *startError) Error() string { return e.setting + ": " + e.err.Error() }
func (e *startError) Unwrap() error { return e.err }

func usage(w io.Writer) {
	fmt.Fprintln(w, "Usage: attrib <command> [flags]")
	fmt.Fprintln(w, "\nCommands:")
	for _, c := range subcommands() {
		fmt.Fprintf(w, "  %-11s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nEvery setting is a flag with an environment fallback; `attrib config` lists them.")
	fmt.Fprintln(w, "`attrib <command> -h` shows the flags.")
}

func newLogger(w io.Writer, ec *engineConfig) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(ec.LogLevel))
	opts := &slog.HandlerOptions{Level: level}
	if ec.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
