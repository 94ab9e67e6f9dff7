// Package embedded runs a Kafka-protocol broker inside the process, for the
// single-machine setup and for tests: franz-go's kfake, keeping its log on
// disk under a data directory so that it survives a restart.
//
// It is the only package of the engine that knows about kfake; everything
// else talks the Kafka protocol to the addresses it reports.
package embedded

import (
	"fmt"
	"log/slog"
	"net"
	"strconv"

	"github.com/twmb/franz-go/pkg/kfake"
)

// Config configures an embedded broker.
type Config struct {
	// DataDir keeps the log, offsets and group state. Empty: in memory only
	// (tests that do not need persistence).
	DataDir string
	// Addr is host:port of the first broker; further brokers listen on the
	// following ports. Port 0 picks free ports. Default "127.0.0.1:0".
	Addr string
	// Brokers is the number of brokers in the cluster. Default 1. They
	// share one process and one copy of the log: each partition is led by
	// one of them (kept over a restart), which alone serves it, and each
	// group's coordinator is one of them, but nothing is replicated and no
	// broker fails alone.
	Brokers int
	// SyncWrites fsyncs every produced batch before acknowledging it, so an
	// acknowledged append survives a crash of the machine, not only of the
	// process.
	SyncWrites bool
	// Logger receives the broker's warnings and errors. Default slog.Default().
	Logger *slog.Logger
}

// Broker is a running embedded cluster.
type Broker struct {
	cluster *kfake.Cluster
}

// Start starts the cluster, reloading its state from DataDir when present.
func Start(cfg Config) (*Broker, error) {
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	if cfg.Brokers <= 0 {
		cfg.Brokers = 1
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	host, portStr, err := net.SplitHostPort(cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("embedded kafka address %q: %w", cfg.Addr, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port < 0 || port+cfg.Brokers-1 > 65535 {
		return nil, fmt.Errorf("embedded kafka address %q: bad port", cfg.Addr)
	}
	ports := make([]int, cfg.Brokers)
	for i := range ports {
		if port != 0 {
			ports[i] = port + i
		} // else 0: kfake listens on a free port
	}
	opts := []kfake.Opt{
		kfake.NumBrokers(cfg.Brokers),
		kfake.Ports(ports...),
		kfake.WithLogger(logger{cfg.Logger}),
	}
	if host != "127.0.0.1" {
		// kfake listens on 127.0.0.1; bind the configured host instead.
		opts = append(opts, kfake.ListenFn(func(network, addr string) (net.Listener, error) {
			_, p, err := net.SplitHostPort(addr)
			if err != nil {
				return nil, err
			}
			return net.Listen(network, net.JoinHostPort(host, p))
		}))
	}
	if cfg.DataDir != "" {
		opts = append(opts, kfake.DataDir(cfg.DataDir))
	}
	if cfg.SyncWrites {
		opts = append(opts, kfake.SyncWrites())
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		return nil, fmt.Errorf("start embedded kafka on %s: %w", cfg.Addr, err)
	}
	return &Broker{cluster: c}, nil
}

// Addrs returns the brokers' addresses, host:port.
func (b *Broker) Addrs() []string { return b.cluster.ListenAddrs() }

// Close stops the cluster, flushing its state to DataDir.
func (b *Broker) Close() { b.cluster.Close() }

// logger forwards kfake's warnings and errors to slog.
type logger struct{ l *slog.Logger }

func (l logger) Logf(level kfake.LogLevel, msg string, args ...any) {
	switch level {
	case kfake.LogLevelError:
		l.l.Error("embedded kafka: " + fmt.Sprintf(msg, args...))
	case kfake.LogLevelWarn:
		l.l.Warn("embedded kafka: " + fmt.Sprintf(msg, args...))
	}
}
