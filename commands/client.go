package commands

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/attrib-engine/attrib/catalog"
	"github.com/attrib-engine/attrib/eventstore"
	"github.com/attrib-engine/attrib/schemas"
)

// Appender appends envelopes to a topic durably.
type Appender interface {
	Append(ctx context.Context, topic string, events ...schemas.Envelope) error
}

// Waiter blocks until the result of a command arrives, or timeout passes.
type Waiter interface {
	Wait(ctx context.Context, commandID string, timeout time.Duration) ([]byte, error)
}

// ErrUnavailable is returned by Send when the command could not be
// appended: nothing was recorded, the caller may retry.
var ErrUnavailable = errors.New("command log unavailable")

// ErrNoAnswer is returned by Send when the command was appended but no
// processor answered in time. It will still be decided; retrying with a new
// command may apply it twice, so callers should say so.
var ErrNoAnswer = errors.New("command accepted but not decided in time")

// Client sends commands and waits for their results.
type Client struct {
	log     Appender
	replies Waiter
	timeout time.Duration
	now     func() time.Time
}

// NewClient returns a Client; timeout bounds the wait for a result (default
// 10 s).
func NewClient(log Appender, replies Waiter, timeout time.Duration) *Client {
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	return &Client{log: log, replies: replies, timeout: timeout, now: time.Now}
}

// Send appends cmd and returns its decision. A refusal comes back as a
// Result with Failure set, not as an error.
func (c *Client) Send(ctx context.Context, cmd catalog.BrandCommand, correlationID string) (Result, error) {
	return c.SendAt(ctx, cmd, correlationID, time.Time{})
}

// SendAt is Send for a command that is to take effect at at, a time in the
// past (see EncodeAt); a zero at is Send. The processor refuses it unless
// it runs with ProcessorConfig.AllowBackdating, and checks at with
// catalog.CheckEffectiveTime.
func (c *Client) SendAt(ctx context.Context, cmd catalog.BrandCommand, correlationID string, at time.Time) (Result, error) {
	id := schemas.NewEventID()
	env, err := EncodeAt(cmd, id, correlationID, c.now(), at)
	if err != nil {
		return Result{}, err
	}
	if err := c.log.Append(ctx, Topic, env); err != nil {
		return Result{}, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	body, err := c.replies.Wait(ctx, id, c.timeout)
	if err != nil {
		return Result{}, fmt.Errorf("%w: %v", ErrNoAnswer, err)
	}
	var r Result
	if err := json.Unmarshal(body, &r); err != nil {
		return Result{}, fmt.Errorf("decode result of %s: %w", id, err)
	}
	return r, nil
}

// TopicSpec is the commands topic as it must be provisioned: with the
// catalog topic's partition count.
func TopicSpec(catalogPartitions int) eventstore.TopicSpec {
	return eventstore.TopicSpec{
		Name:       Topic,
		Partitions: catalogPartitions,
		Configs:    map[string]string{"retention.ms": fmt.Sprint((7 * 24 * time.Hour).Milliseconds())},
	}
}
