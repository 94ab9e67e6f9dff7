package eventstore

import (
	"context"
	"fmt"

	"github.com/segmentio/kafka-go"
)

// Committed returns the offsets group has committed on topic, by
// partition: the next offset each member will read. A partition the group
// never committed is missing.
func (s *Store) Committed(ctx context.Context, group, topic string) (map[int]int64, error) {
	committed, err := s.client.ConsumerOffsets(ctx, kafka.TopicAndGroup{Topic: topic, GroupId: group})
	if err != nil {
		return nil, fmt.Errorf("committed offsets of group %s on %s: %w", group, topic, err)
	}
	out := make(map[int]int64, len(committed))
	for p, o := range committed {
		if o >= 0 {
			out[p] = o
		}
	}
	return out, nil
}
