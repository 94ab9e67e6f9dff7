// Package eventstore is the event log of the engine, on Kafka through
// segmentio/kafka-go: appending envelopes durably, provisioning topics, and
// consuming them in consumer groups with at-least-once delivery, per-partition
// handlers scoped to a group generation, and dead-letter topics for poison
// events.
//
// Nothing here knows whether the brokers are a real cluster or the embedded
// broker of the single-machine setup (see package eventstore/embedded).
package eventstore

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"
)

// Config configures a Store. The zero value of every optional field is a
// default that works on one machine.
type Config struct {
	// Brokers are the bootstrap addresses, host:port. Required.
	Brokers []string
	// ClientID names this process to the brokers. Default "attrib".
	ClientID string
	// BatchTimeout is how long the writer waits to fill a batch before it
	// sends one. kafka-go's default of 1 s would make every synchronous
	// single append take a second. Default 2 ms.
	BatchTimeout time.Duration
	// WriteTimeout bounds one append, retries included. Default 10 s.
	WriteTimeout time.Duration
	// DialTimeout bounds connecting to a broker, and the reachability check
	// of Open. Default 5 s.
	DialTimeout time.Duration
	// Partitions is the partition count of topics created by EnsureTopics
	// when a TopicSpec does not say. Default 8.
	Partitions int
	// ReplicationFactor of created topics; 0 means min(3, number of brokers
	// in the cluster).
	ReplicationFactor int
	// Logger receives operational logs. Default slog.Default().
	Logger *slog.Logger
	// Registerer receives the store's metrics. Nil: metrics are kept but not
	// registered anywhere.
	Registerer prometheus.Registerer
	// Compression is the codec of every batch the store produces: "zstd",
	// "lz4", "snappy", "gzip" or "none". Brokers keep batches as they are
	// sent (compression.type=producer), so this is what the log costs on
	// disk; consumers read any codec whatever this says, so changing it
	// never strands old records. Default DefaultCompression.
	Compression string

	codec kafka.Compression
}

// DefaultCompression is Config.Compression when not set: zstd, whose
// batches of the engine's JSON envelopes are the smallest of kafka-go's
// codecs, for a few microseconds of CPU per record; a log kept forever
// weighs more in bytes than in that CPU.
const DefaultCompression = "zstd"

const (
	defaultClientID     = "attrib"
	defaultBatchTimeout = 2 * time.Millisecond
	defaultWriteTimeout = 10 * time.Second
	defaultDialTimeout  = 5 * time.Second
	defaultPartitions   = 8
)

// ErrNoBrokers is returned by Validate when no broker address is configured.
var ErrNoBrokers = errors.New("no kafka brokers configured")

// Validate checks the configuration and fills in defaults.
func (c *Config) Validate() error {
	if len(c.Brokers) == 0 {
		return ErrNoBrokers
	}
	for _, b := range c.Brokers {
		host, port, err := net.SplitHostPort(b)
		if err != nil {
			return fmt.Errorf("kafka broker %q: want host:port: %w", b, err)
		}
		if host == "" {
			return fmt.Errorf("kafka broker %q: empty host", b)
		}
		if p, err := strconv.Atoi(port); err != nil || p <= 0 || p > 65535 {
			return fmt.Errorf("kafka broker %q: port %q is not a number in 1..65535", b, port)
		}
	}
	if c.ClientID == "" {
		c.ClientID = defaultClientID
	}
	if c.BatchTimeout <= 0 {
		c.BatchTimeout = defaultBatchTimeout
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = defaultWriteTimeout
	}
	if c.DialTimeout <= 0 {
		c.DialTimeout = defaultDialTimeout
	}
	if c.Partitions <= 0 {
		c.Partitions = defaultPartitions
	}
	if c.ReplicationFactor < 0 {
		return fmt.Errorf("replication factor %d: must be >= 0", c.ReplicationFactor)
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Compression == "" {
		c.Compression = DefaultCompression
	}
	if err := c.codec.UnmarshalText([]byte(c.Compression)); err != nil {
		return fmt.Errorf("kafka compression %q: want zstd, lz4, snappy, gzip or none", c.Compression)
	}
	return nil
}
