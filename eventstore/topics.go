package eventstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/segmentio/kafka-go"
)

// TopicSpec describes a topic to provision.
type TopicSpec struct {
	Name string
	// Partitions; 0 means the store's default (Config.Partitions).
	Partitions int
	// Configs are extra topic configs. Event topics get unlimited retention
	// (retention.ms=-1, retention.bytes=-1) unless they say otherwise: the
	// log is the source of truth and must never expire.
	Configs map[string]string
}

// EnsureTopics creates the topics that do not exist yet. It is idempotent:
// an existing topic is left as it is (a different partition count is
// logged, never changed, since that would move keys between partitions).
func (s *Store) EnsureTopics(ctx context.Context, specs ...TopicSpec) error {
	if len(specs) == 0 {
		return nil
	}
	meta, err := s.client.Metadata(ctx, &kafka.MetadataRequest{})
	if err != nil {
		return fmt.Errorf("ensure topics: metadata: %w", err)
	}
	existing := make(map[string]int, len(meta.Topics))
	for _, t := range meta.Topics {
		if t.Error == nil {
			existing[t.Name] = len(t.Partitions)
		}
	}
	rf := s.cfg.ReplicationFactor
	if rf == 0 {
		rf = min(3, len(meta.Brokers))
	}
	var create []kafka.TopicConfig
	for _, spec := range specs {
		parts := spec.Partitions
		if parts <= 0 {
			parts = s.cfg.Partitions
		}
		if n, ok := existing[spec.Name]; ok {
			if n != parts {
				s.cfg.Logger.Warn("topic exists with another partition count; leaving it",
					"topic", spec.Name, "partitions", n, "wanted", parts)
			}
			continue
		}
		cfgs := map[string]string{"retention.ms": "-1", "retention.bytes": "-1"}
		for k, v := range spec.Configs {
			cfgs[k] = v
		}
		tc := kafka.TopicConfig{Topic: spec.Name, NumPartitions: parts, ReplicationFactor: rf}
		for k, v := range cfgs {
			tc.ConfigEntries = append(tc.ConfigEntries, kafka.ConfigEntry{ConfigName: k, ConfigValue: v})
		}
		create = append(create, tc)
	}
	if len(create) == 0 {
		return nil
	}
	res, err := s.client.CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: create})
	if err != nil {
		return fmt.Errorf("create %d topics: %w", len(create), err)
	}
	for name, terr := range res.Errors {
		if terr != nil && !errors.Is(terr, kafka.TopicAlreadyExists) {
			return fmt.Errorf("create topic %s: %w", name, terr)
		}
	}
	for _, tc := range create {
		s.cfg.Logger.Info("created topic", "topic", tc.Topic, "partitions", tc.NumPartitions,
			"replication_factor", strconv.Itoa(tc.ReplicationFactor))
	}
	return s.waitTopics(ctx, create)
}

// waitTopics waits until every created topic has a leader for each of its
// partitions, so a write right after EnsureTopics does not fail.
func (s *Store) waitTopics(ctx context.Context, topics []kafka.TopicConfig) error {
	names := make([]string, len(topics))
	for i, t := range topics {
		names[i] = t.Topic
	}
	for {
		meta, err := s.client.Metadata(ctx, &kafka.MetadataRequest{Topics: names})
		if err == nil {
			ready := len(meta.Topics) == len(names)
			for _, t := range meta.Topics {
				if t.Error != nil || len(t.Partitions) == 0 {
					ready = false
				}
				for _, p := range t.Partitions {
					if p.Error != nil || p.Leader.Host == "" {
						ready = false
					}
				}
			}
			if ready {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for topics %v: %w", names, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}
