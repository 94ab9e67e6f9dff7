package eventstore

import (
	"context"
	"strconv"
	"time"

	"github.com/segmentio/kafka-go"
)

// Headers set on a dead-lettered record, besides the original's own headers.
const (
	HeaderDLQReason    = "dlq-reason"
	HeaderDLQTopic     = "dlq-origin-topic"
	HeaderDLQPartition = "dlq-origin-partition"
	HeaderDLQOffset    = "dlq-origin-offset"
	HeaderDLQGroup     = "dlq-consumer-group"
	HeaderDLQTime      = "dlq-time"
)

type deadLetter struct {
	msg    Message
	reason string
}

// sendDeadLetters appends the poison messages, unchanged, to the dead-letter
// topic with the reason and their origin in headers.
func (s *Subscriber) sendDeadLetters(ctx context.Context, dead []deadLetter) error {
	now := time.Now().UTC().Format(time.RFC3339Nano)
	msgs := make([]kafka.Message, len(dead))
	for i, d := range dead {
		headers := make([]kafka.Header, 0, len(d.msg.Headers)+6)
		headers = append(headers, d.msg.Headers...)
		headers = append(headers,
			kafka.Header{Key: HeaderDLQReason, Value: []byte(d.reason)},
			kafka.Header{Key: HeaderDLQTopic, Value: []byte(d.msg.Topic)},
			kafka.Header{Key: HeaderDLQPartition, Value: []byte(strconv.Itoa(d.msg.Partition))},
			kafka.Header{Key: HeaderDLQOffset, Value: []byte(strconv.FormatInt(d.msg.Offset, 10))},
			kafka.Header{Key: HeaderDLQGroup, Value: []byte(s.cfg.Group)},
			kafka.Header{Key: HeaderDLQTime, Value: []byte(now)},
		)
		msgs[i] = kafka.Message{Topic: s.cfg.DeadLetterTopic, Key: d.msg.Key, Value: d.msg.Value, Headers: headers}
	}
	return s.store.write(ctx, s.cfg.DeadLetterTopic, msgs)
}

// HeaderValue returns the value of the first header named key, or "".
func HeaderValue(headers []kafka.Header, key string) string {
	for _, h := range headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}
