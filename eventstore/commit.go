package eventstore

import (
	"sync"

	"github.com/segmentio/kafka-go"
)

// committer commits the offsets of one group generation's partitions,
// merging the commits that arrive while one is in flight into the next
// request. The partitions share the group's one coordinator connection:
// committing each on its own, they queued behind each other (and kafka-go
// has every waiter on that connection spin until its answer is read); with
// 8 partitions a batch spent longer waiting to commit than committing.
type committer struct {
	commit func(map[string]map[int]int64) error

	mu      sync.Mutex
	running bool
	pending map[string]map[int]int64
	waiters []chan error
}

func newCommitter(gen *kafka.Generation) *committer {
	return &committer{commit: gen.CommitOffsets}
}

// Commit commits next as the offset of topic/partition and returns once a
// request carrying it was answered, with that request's error. One
// partition must not call it concurrently with itself.
func (c *committer) Commit(topic string, partition int, next int64) error {
	done := make(chan error, 1)
	c.mu.Lock()
	if c.pending == nil {
		c.pending = make(map[string]map[int]int64)
	}
	if c.pending[topic] == nil {
		c.pending[topic] = make(map[int]int64)
	}
	c.pending[topic][partition] = next
	c.waiters = append(c.waiters, done)
	if !c.running {
		c.running = true
		go c.run()
	}
	c.mu.Unlock()
	return <-done
}

// run sends the pending offsets, one request at a time, until none are
// left.
func (c *committer) run() {
	for {
		c.mu.Lock()
		if len(c.waiters) == 0 {
			c.running = false
			c.mu.Unlock()
			return
		}
		offsets, waiters := c.pending, c.waiters
		c.pending, c.waiters = nil, nil
		c.mu.Unlock()
		err := c.commit(offsets)
		for _, w := range waiters {
			w <- err
		}
	}
}
