package eventstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/attrib-engine/attrib/schemas"
)

// Message is one record of the log with its decoded envelope.
type Message struct {
	Topic     string
	Partition int
	Offset    int64
	Key       []byte
	Value     []byte
	Headers   []kafka.Header
	// Time is the broker's or producer's timestamp of the record.
	Time time.Time
	// Envelope is the decoded envelope; its payload is not decoded.
	Envelope schemas.Envelope
}

// Batch is a run of consecutive messages of one partition handed to a
// handler. A handler marks a message it can never process with Reject; the
// subscriber then sends it to the dead-letter topic instead of retrying.
type Batch struct {
	Topic     string
	Partition int
	Messages  []Message
	// Next is the offset after the last record of the fetched range. It can
	// be beyond the last message when records that could not be decoded
	// were sent to the dead-letter topic before the handler saw the batch;
	// such a batch may even have no messages. Handlers that keep a position
	// (a watermark) use Next so that it passes those records too.
	Next     int64
	rejected map[int]string
}

// Reject marks Messages[i] as poison with a reason a person can act on. The
// message goes to the dead-letter topic; the partition moves on.
func (b *Batch) Reject(i int, reason string) {
	if b.rejected == nil {
		b.rejected = make(map[int]string)
	}
	b.rejected[i] = reason
}

// Rejected reports whether Messages[i] was rejected, and why.
func (b *Batch) Rejected(i int) (string, bool) {
	r, ok := b.rejected[i]
	return r, ok
}

// Assignment is one partition handed to this process by a group generation.
type Assignment struct {
	Group      string
	Generation int32
	Topic      string
	Partition  int
	// Offset is where consumption starts: the committed offset, or
	// kafka.FirstOffset when the group has none.
	Offset int64
}

// PartitionHandler handles the batches of one partition during one group
// generation. Its state lives as long as the generation: when the partition
// is revoked, the handler is closed and the next owner starts a fresh one,
// so no state of a former owner ever meets a batch it should not see.
//
// Handle must be idempotent: a batch is redelivered when its commit did not
// happen (crash, rebalance). A returned error means "not done, retry": the
// batch is retried with backoff and nothing is committed until it succeeds.
type PartitionHandler interface {
	Handle(ctx context.Context, b *Batch) error
}

// PipelinedHandler is a PartitionHandler that takes the next batches of its
// partition before the earlier ones are done, so that its work on one batch
// overlaps its wait for another: the ClickHouse projector decodes a
// partition's next batch while the flush of its previous one is being
// inserted. A handler that does not implement it (or whose Window is below
// 2) gets the batches of a partition one at a time, through Handle.
//
// For the batches of one partition, the subscriber:
//   - calls Begin one call at a time, never two at once, and the first
//     Begin of each batch in offset order;
//   - has at most Window batches begun and not yet committed (or abandoned);
//   - begins a batch again after its wait failed only once every earlier
//     batch of the partition succeeded: as soon as they did if one of them
//     had not yet when it failed (the failure may have been theirs, as the
//     projector fails a batch whose earlier batch's flush failed), after its
//     own backoff otherwise;
//   - commits strictly in order: a batch's offsets only after it and every
//     earlier batch succeeded and their dead letters are durable; a batch
//     that failed holds back the commits of every later one, whatever they
//     returned;
//   - when the generation ends, gives the waits of the batches in flight
//     DrainTimeout to finish, retries nothing, and commits the batches that
//     succeeded up to the first that did not.
//
// So batch k+1 may begin before batch k is done and succeed before it: a
// handler whose effects must follow the order of the log orders them
// itself, from the order of the Begin calls.
//
// It pays when a batch mostly waits (for an insert, a round trip), as the
// ClickHouse projector's do. Each batch in flight holds its messages, so
// memory grows with the window.
type PipelinedHandler interface {
	PartitionHandler
	// Window is the most batches of one partition in flight at once.
	Window() int
	// Begin starts handling b and returns once b has its place after the
	// earlier batches of the partition; wait blocks until b is done (nil)
	// or failed (retry), or ctx ends. The subscriber reads b's rejections
	// after wait returned nil.
	Begin(ctx context.Context, b *Batch) (wait func() error)
}

// HandlerFunc adapts a function to a PartitionHandler.
type HandlerFunc func(ctx context.Context, b *Batch) error

// Handle calls f.
func (f HandlerFunc) Handle(ctx context.Context, b *Batch) error { return f(ctx, b) }

// HandlerFactory makes the handler of one assigned partition. An error is
// retried with backoff while the generation lasts.
type HandlerFactory func(ctx context.Context, a Assignment) (PartitionHandler, error)

// Stateless returns a factory that uses h for every partition.
func Stateless(h PartitionHandler) HandlerFactory {
	return func(context.Context, Assignment) (PartitionHandler, error) { return h, nil }
}

// SubscriberConfig configures a Subscriber.
type SubscriberConfig struct {
	// Group is the consumer group id. Renaming it starts a new group that
	// replays the topics from the beginning.
	Group string
	// Topics to consume. Required.
	Topics []string
	// Handler makes the handler of each assigned partition. Required.
	Handler HandlerFactory
	// MaxBatch is the most messages in one batch. Default 1000.
	MaxBatch int
	// MaxWait is how long a batch may wait to fill once its first message is
	// there. Default 50 ms.
	MaxWait time.Duration
	// DeadLetterTopic receives rejected and undecodable messages. Default
	// "attrib.dlq.<group>".
	DeadLetterTopic string
	// StartOffset is kafka.FirstOffset (default) or kafka.LastOffset: where a
	// group without committed offsets starts.
	StartOffset int64
	// RetryMin and RetryMax bound the exponential backoff of failed handler
	// calls, commits and joins. Defaults 100 ms and 30 s.
	RetryMin, RetryMax time.Duration
	// SessionTimeout, HeartbeatInterval and RebalanceTimeout are the group
	// protocol timings. Defaults 10 s, 1 s, 10 s.
	SessionTimeout, HeartbeatInterval, RebalanceTimeout time.Duration
	// DrainTimeout bounds how long an in-flight batch may take to finish
	// when its generation ends (shutdown or rebalance). Default 30 s.
	DrainTimeout time.Duration
	// Logger; default the store's.
	Logger *slog.Logger
}

func (c *SubscriberConfig) validate(s *Store) error {
	if c.Group == "" {
		return errors.New("subscriber: group is required")
	}
	if len(c.Topics) == 0 {
		return fmt.Errorf("subscriber %s: no topics", c.Group)
	}
	if c.Handler == nil {
		return fmt.Errorf("subscriber %s: no handler", c.Group)
	}
	if c.MaxBatch <= 0 {
		c.MaxBatch = 1000
	}
	if c.MaxWait <= 0 {
		c.MaxWait = 50 * time.Millisecond
	}
	if c.DeadLetterTopic == "" {
		c.DeadLetterTopic = "attrib.dlq." + c.Group
	}
	if c.StartOffset == 0 {
		c.StartOffset = kafka.FirstOffset
	}
	if c.StartOffset != kafka.FirstOffset && c.StartOffset != kafka.LastOffset {
		return fmt.Errorf("subscriber %s: start offset %d: want kafka.FirstOffset or kafka.LastOffset", c.Group, c.StartOffset)
	}
	if c.RetryMin <= 0 {
		c.RetryMin = 100 * time.Millisecond
	}
	if c.RetryMax <= 0 {
		c.RetryMax = 30 * time.Second
	}
	if c.SessionTimeout <= 0 {
		c.SessionTimeout = 10 * time.Second
	}
	if c.HeartbeatInterval <= 0 {
		c.HeartbeatInterval = time.Second
	}
	if c.RebalanceTimeout <= 0 {
		c.RebalanceTimeout = 10 * time.Second
	}
	if c.DrainTimeout <= 0 {
		c.DrainTimeout = 30 * time.Second
	}
	if c.Logger == nil {
		c.Logger = s.cfg.Logger
	}
	c.Logger = c.Logger.With("group", c.Group)
	return nil
}

// Subscriber consumes topics in a consumer group: at-least-once, in order per
// partition, committing a batch's offsets only after its handler succeeded
// and its rejected messages are durably in the dead-letter topic. A handler
// gets one batch of a partition at a time, unless it is a PipelinedHandler
// (see there for what it may then see).
type Subscriber struct {
	store *Store
	cfg   SubscriberConfig

	mu sync.Mutex
	// committed holds the positions this member committed for the
	// partitions it owns: topic -> partition -> next offset.
	committed map[string]map[int]int64
}

// NewSubscriber validates cfg and returns a Subscriber; Run starts it.
func NewSubscriber(store *Store, cfg SubscriberConfig) (*Subscriber, error) {
	if err := cfg.validate(store); err != nil {
		return nil, err
	}
	store.metrics.startGroup(cfg.Group, cfg.Topics)
	return &Subscriber{
		store:     store,
		cfg:       cfg,
		committed: make(map[string]map[int]int64),
	}, nil
}

// Group returns the consumer group id.
func (s *Subscriber) Group() string { return s.cfg.Group }

// DeadLetterTopic returns the topic that receives this subscriber's poison
// messages.
func (s *Subscriber) DeadLetterTopic() string { return s.cfg.DeadLetterTopic }

// Run joins the group and consumes until ctx ends. On the way out it lets
// in-flight batches finish and commit (bounded by DrainTimeout), then leaves
// the group, so that another member takes over at once.
func (s *Subscriber) Run(ctx context.Context) error {
	if err := s.store.EnsureTopics(ctx, TopicSpec{Name: s.cfg.DeadLetterTopic}); err != nil {
		return fmt.Errorf("subscriber %s: %w", s.cfg.Group, err)
	}
	cg, err := kafka.NewConsumerGroup(kafka.ConsumerGroupConfig{
		ID:                s.cfg.Group,
		Brokers:           s.store.brokers,
		Dialer:            &kafka.Dialer{ClientID: s.store.cfg.ClientID, Timeout: s.store.cfg.DialTimeout},
		Topics:            s.cfg.Topics,
		GroupBalancers:    []kafka.GroupBalancer{kafka.RangeGroupBalancer{}},
		HeartbeatInterval: s.cfg.HeartbeatInterval,
		SessionTimeout:    s.cfg.SessionTimeout,
		RebalanceTimeout:  s.cfg.RebalanceTimeout,
		JoinGroupBackoff:  s.cfg.RetryMin * 5,
		StartOffset:       s.cfg.StartOffset,
		// Watch for partitions added to a topic, so they get consumed.
		WatchPartitionChanges:  true,
		PartitionWatchInterval: 30 * time.Second,
		Timeout:                s.store.cfg.DialTimeout,
	})
	if err != nil {
		return fmt.Errorf("subscriber %s: %w", s.cfg.Group, err)
	}
	// Closing the group ends the current generation, which waits for the
	// partition loops to drain, then leaves the group.
	stop := context.AfterFunc(ctx, func() { _ = cg.Close() })
	defer stop()
	defer cg.Close()
	for {
		gen, err := cg.Next(ctx)
		switch {
		case err == nil:
		case ctx.Err() != nil, errors.Is(err, kafka.ErrGroupClosed):
			return nil
		default:
			s.cfg.Logger.Warn("consumer group: join failed; retrying", "err", err)
			continue // the group backs off by itself
		}
		s.store.metrics.rebalances.WithLabelValues(s.cfg.Group).Inc()
		n := 0
		cm := newCommitter(gen)
		for topic, parts := range gen.Assignments {
			for _, pa := range parts {
				a := Assignment{Group: s.cfg.Group, Generation: gen.ID, Topic: topic, Partition: pa.ID, Offset: pa.Offset}
				gen.Start(func(gctx context.Context) { s.consumePartition(gctx, cm, a) })
				n++
			}
		}
		s.cfg.Logger.Info("joined consumer group generation", "generation", gen.ID, "member", gen.MemberID, "partitions", n)
	}
}

// consumePartition runs one partition for as long as the generation lasts.
// It never returns early on errors: a returning function would end the whole
// generation for every partition (kafka-go semantics).
func (s *Subscriber) consumePartition(gctx context.Context, cm *committer, a Assignment) {
	log := s.cfg.Logger.With("topic", a.Topic, "partition", a.Partition, "generation", a.Generation)
	defer s.forgetPartition(a.Topic, a.Partition)

	var handler PartitionHandler
	for attempt := 0; handler == nil; attempt++ {
		h, err := s.cfg.Handler(gctx, a)
		if err == nil {
			handler = h
			break
		}
		log.Warn("partition handler: start failed; retrying", "err", err)
		if !s.sleep(gctx, attempt) {
			return
		}
	}
	if c, ok := handler.(interface{ Close() error }); ok {
		defer func() {
			if err := c.Close(); err != nil {
				log.Warn("partition handler: close", "err", err)
			}
		}()
	}

	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers:         s.store.brokers,
		Dialer:          &kafka.Dialer{ClientID: s.store.cfg.ClientID, Timeout: s.store.cfg.DialTimeout},
		Topic:           a.Topic,
		Partition:       a.Partition,
		MinBytes:        1,
		MaxBytes:        16 << 20,
		MaxWait:         readerMaxWait,
		QueueCapacity:   s.cfg.MaxBatch,
		ReadLagInterval: -1,
		ErrorLogger:     kafka.LoggerFunc(func(f string, args ...any) { log.Warn(fmt.Sprintf(f, args...)) }),
	})
	defer r.Close()
	start := startOffset(handler, a.Offset)
	if err := r.SetOffset(start); err != nil {
		log.Error("set offset", "offset", start, "err", err)
		return
	}
	if ph, ok := handler.(PipelinedHandler); ok && ph.Window() > 1 {
		s.consumePipelined(gctx, cm, a, log, ph, r)
		return
	}
	for {
		msgs, hwm := s.fetchBatch(gctx, r)
		if len(msgs) == 0 {
			return // the generation ended
		}
		// The batch was fetched in this generation: finish it even if the
		// generation ends meanwhile, then try to commit. A commit refused
		// because the group moved on is harmless: the new owner gets the
		// batch again, and handlers are idempotent.
		if !s.process(gctx, cm, a, log, handler, msgs) {
			return
		}
		s.setLag(a.Topic, a.Partition, hwm-(msgs[len(msgs)-1].Offset+1))
		if gctx.Err() != nil {
			return
		}
	}
}

// readerMaxWait is the read deadline of a reader's fetch. kafka-go asks the
// broker to answer within this less one second (its assumed round trip; a
// quarter of it below one second), so 2 s gives the broker a second to
// answer an idle partition and a busy one a second of slack before the
// fetch times out and the reader reconnects. With MinBytes 1 the broker
// answers as soon as a record arrives, so a longer wait costs no latency.
const readerMaxWait = 2 * time.Second

// fetchBatch waits for one message, then gathers more for up to MaxWait or
// MaxBatch messages. It returns nothing when the generation ended first, and
// the partition's high watermark as of the last fetch.
func (s *Subscriber) fetchBatch(gctx context.Context, r *kafka.Reader) ([]kafka.Message, int64) {
	first, err := r.FetchMessage(gctx)
	if err != nil {
		if gctx.Err() == nil {
			s.cfg.Logger.Warn("fetch", "topic", r.Config().Topic, "partition", r.Config().Partition, "err", err)
		}
		return nil, 0
	}
	hwm := first.HighWaterMark
	// Sized for what the partition holds now, not for MaxBatch: a live
	// batch is often a handful of messages, and a slice of MaxBatch
	// messages (6 MB for the projector's 40,000) would be allocated and
	// cleared for each. Appends grow it when more arrive.
	msgs := make([]kafka.Message, 1, max(1, min(int64(s.cfg.MaxBatch), hwm-first.Offset)))
	msgs[0] = first
	lctx, cancel := context.WithTimeout(gctx, s.cfg.MaxWait)
	defer cancel()
	for len(msgs) < s.cfg.MaxBatch {
		// Once the reader has caught up, do not wait for the linger time:
		// a lone event is handled at once.
		if msgs[len(msgs)-1].Offset+1 >= hwm {
			break
		}
		m, err := r.FetchMessage(lctx)
		if err != nil {
			break
		}
		msgs = append(msgs, m)
		hwm = m.HighWaterMark
	}
	return msgs, hwm
}

// process decodes, handles, dead-letters and commits one batch. It returns
// false when the generation ended before the batch could be handled.
func (s *Subscriber) process(gctx context.Context, cm *committer, a Assignment, log *slog.Logger, h PartitionHandler, raw []kafka.Message) bool {
	start := time.Now()
	b, undecodable := newBatch(a, raw)
	hctx, release := s.batchContext(gctx)
	defer release()
	{
		// Called even when every record was undecodable, so the handler
		// sees Next advance.
		for attempt := 0; ; attempt++ {
			err := h.Handle(hctx, b)
			if err == nil {
				break
			}
			s.store.metrics.handlerErrors.WithLabelValues(s.cfg.Group, a.Topic).Inc()
			log.Warn("handler failed; retrying the batch", "first_offset", raw[0].Offset, "events", len(raw), "attempt", attempt+1, "err", err)
			b.rejected = nil
			if !s.sleep(gctx, attempt) {
				return false // generation over: not committed, the next owner retries
			}
		}
	}
	if !s.deadLetter(gctx, hctx, a, log, undecodable, b) {
		return false
	}
	if !s.commit(gctx, cm, a, log, b.Next) {
		return false
	}
	s.committedBatch(a, raw, start)
	return true
}

// newBatch decodes the envelopes of raw into a batch; the records that have
// no valid envelope are returned apart, for the dead-letter topic.
func newBatch(a Assignment, raw []kafka.Message) (*Batch, []deadLetter) {
	b := &Batch{Topic: a.Topic, Partition: a.Partition, Messages: make([]Message, 0, len(raw)), Next: raw[len(raw)-1].Offset + 1}
	var undecodable []deadLetter
	for _, m := range raw {
		// Decoded in place: a message of its own would escape to the heap.
		b.Messages = append(b.Messages, Message{Topic: m.Topic, Partition: m.Partition, Offset: m.Offset, Key: m.Key, Value: m.Value, Headers: m.Headers, Time: m.Time})
		msg := &b.Messages[len(b.Messages)-1]
		if err := decodeEnvelope(m.Key, m.Value, &msg.Envelope); err != nil {
			undecodable = append(undecodable, deadLetter{msg: *msg, reason: err.Error()})
			b.Messages = b.Messages[:len(b.Messages)-1]
			continue
		}
	}
	return b, undecodable
}

// batchContext returns the context of one batch: it survives the end of
// the generation for a bounded time, so a shutdown or rebalance drains the
// batch in flight. The drain clock starts only when the generation ends: an
// outage that makes the handler fail for longer than DrainTimeout must not
// leave the batch with a dead context for every later retry. release frees
// it.
func (s *Subscriber) batchContext(gctx context.Context) (hctx context.Context, release func()) {
	hctx, cancel := context.WithCancel(context.WithoutCancel(gctx))
	var drain *time.Timer
	var drainMu sync.Mutex
	stopDrain := context.AfterFunc(gctx, func() {
		drainMu.Lock()
		drain = time.AfterFunc(s.cfg.DrainTimeout, cancel)
		drainMu.Unlock()
	})
	return hctx, func() {
		stopDrain()
		drainMu.Lock()
		if drain != nil {
			drain.Stop()
		}
		drainMu.Unlock()
		cancel()
	}
}

// deadLetter sends the undecodable records and the messages the handler
// rejected to the dead-letter topic, retrying with backoff. It returns false
// when the generation ended first.
func (s *Subscriber) deadLetter(gctx, hctx context.Context, a Assignment, log *slog.Logger, undecodable []deadLetter, b *Batch) bool {
	dead := undecodable
	for i, m := range b.Messages {
		if reason, ok := b.rejected[i]; ok {
			dead = append(dead, deadLetter{msg: m, reason: reason})
		}
	}
	if len(dead) == 0 {
		return true
	}
	for attempt := 0; ; attempt++ {
		err := s.sendDeadLetters(hctx, dead)
		if err == nil {
			break
		}
		log.Warn("dead-letter append failed; retrying", "err", err)
		if !s.sleep(gctx, attempt) {
			return false
		}
	}
	s.store.metrics.deadLetters.WithLabelValues(s.cfg.Group, a.Topic).Add(float64(len(dead)))
	for _, d := range dead {
		log.Warn("event sent to dead-letter topic", "offset", d.msg.Offset, "dlq", s.cfg.DeadLetterTopic, "reason", d.reason)
	}
	return true
}

// commit commits next as the partition's offset, retrying with backoff. It
// returns false when the generation ended first, or refused the commit
// because it ended (harmless: the next owner redelivers, and handlers are
// idempotent).
func (s *Subscriber) commit(gctx context.Context, cm *committer, a Assignment, log *slog.Logger, next int64) bool {
	for attempt := 0; ; attempt++ {
		err := cm.Commit(a.Topic, a.Partition, next)
		if err == nil {
			break
		}
		s.store.metrics.commitErrors.WithLabelValues(s.cfg.Group, a.Topic).Inc()
		if gctx.Err() != nil {
			log.Info("commit refused after the generation ended; the next owner redelivers", "next_offset", next, "err", err)
			return false
		}
		log.Warn("commit failed; retrying", "next_offset", next, "err", err)
		if !s.sleep(gctx, attempt) {
			return false
		}
	}
	s.setCommitted(a.Topic, a.Partition, next)
	return true
}

// committedBatch counts a committed batch in the metrics.
func (s *Subscriber) committedBatch(a Assignment, raw []kafka.Message, start time.Time) {
	s.store.metrics.batches.WithLabelValues(s.cfg.Group, a.Topic).Inc()
	s.store.metrics.events.WithLabelValues(s.cfg.Group, a.Topic).Add(float64(len(raw)))
	s.store.metrics.batchSeconds.WithLabelValues(s.cfg.Group, a.Topic).Observe(time.Since(start).Seconds())
}

// inflight is one batch of a pipelined partition, from its Begin to its
// commit (or abandonment).
type inflight struct {
	raw         []kafka.Message
	hwm         int64
	batch       *Batch
	undecodable []deadLetter
	start       time.Time
	// prev is the batch before it, while that one may be in flight; nil
	// for the first batch of the generation, and once this one settled
	// (so that the settled batches can be freed).
	prev *inflight
	// handled is closed once this batch and every earlier one succeeded
	// (handledOK), or one of them was given up (the generation ended).
	handled   chan struct{}
	handledOK bool
	// settled is closed once the batch is committed (committed) or
	// abandoned.
	settled   chan struct{}
	committed bool
}

// earlierHandled reports whether every batch before e succeeded.
func (e *inflight) earlierHandled() bool {
	if e.prev == nil {
		return true
	}
	select {
	case <-e.prev.handled:
		return e.prev.handledOK
	default:
		return false
	}
}

// consumePipelined is the loop of a partition whose handler pipelines: it
// fetches and begins batches, up to the handler's window ahead of the
// oldest uncommitted one, and leaves each to a goroutine of its own that
// waits for it, retries it, dead-letters its rejections and commits it
// after its predecessor. It returns when the generation ended (or a fetch
// failed), once every batch in flight is settled.
func (s *Subscriber) consumePipelined(gctx context.Context, cm *committer, a Assignment, log *slog.Logger, h PipelinedHandler, r *kafka.Reader) {
	var (
		wg    sync.WaitGroup
		begin sync.Mutex // the partition's Begin calls never overlap
		slots = make(chan struct{}, h.Window())
		prev  *inflight
	)
	defer wg.Wait()
	for {
		select {
		case slots <- struct{}{}:
		case <-gctx.Done():
			return
		}
		msgs, hwm := s.fetchBatch(gctx, r)
		if len(msgs) == 0 {
			return // the generation ended
		}
		e := &inflight{raw: msgs, hwm: hwm, start: time.Now(), prev: prev, handled: make(chan struct{}), settled: make(chan struct{})}
		e.batch, e.undecodable = newBatch(a, msgs)
		// As in process, the batch is finished even if the generation
		// ends meanwhile (for up to DrainTimeout), then committed if it
		// and every earlier batch succeeded.
		hctx, release := s.batchContext(gctx)
		begin.Lock()
		wait := h.Begin(hctx, e.batch)
		begin.Unlock()
		wg.Go(func() {
			defer func() { <-slots }()
			defer release()
			s.settle(gctx, hctx, cm, a, log, h, &begin, e, wait)
		})
		prev = e
	}
}

// settle sees one pipelined batch through: its wait and retries, its dead
// letters, and its commit once its predecessor is committed. A batch whose
// predecessor was abandoned is abandoned too.
func (s *Subscriber) settle(gctx, hctx context.Context, cm *committer, a Assignment, log *slog.Logger, h PipelinedHandler, begin *sync.Mutex, e *inflight, wait func() error) {
	ok := s.handlePipelined(gctx, hctx, a, log, h, begin, e, wait)
	if e.prev != nil {
		<-e.prev.handled
		ok = ok && e.prev.handledOK
	}
	e.handledOK = ok
	close(e.handled)
	if ok {
		ok = s.deadLetter(gctx, hctx, a, log, e.undecodable, e.batch)
	}
	if e.prev != nil {
		<-e.prev.settled
		ok = ok && e.prev.committed
	}
	if ok {
		ok = s.commit(gctx, cm, a, log, e.batch.Next)
	}
	if ok {
		s.setLag(a.Topic, a.Partition, e.hwm-e.batch.Next)
		s.committedBatch(a, e.raw, e.start)
	}
	e.committed = ok
	e.prev = nil
	close(e.settled)
}

// handlePipelined waits for a begun batch and begins it again until it
// succeeds. A batch that failed while an earlier one had not succeeded yet
// is begun again as soon as all earlier ones did: its failure may have been
// theirs, and a backoff grown while they failed would only stall the
// partition once they are through. Otherwise it backs off as in process.
// It returns false when the generation ended (or an earlier batch was given
// up) before the batch succeeded.
func (s *Subscriber) handlePipelined(gctx, hctx context.Context, a Assignment, log *slog.Logger, h PipelinedHandler, begin *sync.Mutex, e *inflight, wait func() error) bool {
	for attempt := 0; ; {
		err := wait()
		if err == nil {
			return true
		}
		s.store.metrics.handlerErrors.WithLabelValues(s.cfg.Group, a.Topic).Inc()
		e.batch.rejected = nil
		if e.earlierHandled() {
			log.Warn("handler failed; retrying the batch", "first_offset", e.raw[0].Offset, "events", len(e.raw), "attempt", attempt+1, "err", err)
			if !s.sleep(gctx, attempt) {
				return false // generation over: not committed, the next owner retries
			}
			attempt++
		} else {
			log.Warn("handler failed while an earlier batch was not done; retrying the batch after it", "first_offset", e.raw[0].Offset, "events", len(e.raw), "err", err)
			select {
			case <-e.prev.handled:
				if !e.prev.handledOK {
					return false
				}
			case <-gctx.Done():
				return false
			}
			if gctx.Err() != nil {
				return false // as process: no retry once the generation ended
			}
		}
		begin.Lock()
		wait = h.Begin(hctx, e.batch)
		begin.Unlock()
	}
}

// decodeEnvelope decodes a record (its key and value, of either layout:
// schemas.UnmarshalRecord) into an envelope and checks the fields every
// consumer relies on. The payload is left to the handler; it shares the
// value's memory (the record's, which the Message keeps).
func decodeEnvelope(key, value []byte, env *schemas.Envelope) error {
	if err := schemas.UnmarshalRecord(key, value, env); err != nil {
		return fmt.Errorf("undecodable envelope: %w", err)
	}
	switch {
	case env.EventID == "":
		return errors.New("invalid envelope: event_id is empty")
	case env.Type == "":
		return errors.New("invalid envelope: type is empty")
	}
	return nil
}

// sleep waits for the attempt's backoff; false if the generation ended.
func (s *Subscriber) sleep(gctx context.Context, attempt int) bool {
	d := s.cfg.RetryMin << min(attempt, 16)
	if d > s.cfg.RetryMax || d <= 0 {
		d = s.cfg.RetryMax
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-gctx.Done():
		return false
	case <-t.C:
		return true
	}
}

func (s *Subscriber) setLag(topic string, partition int, lag int64) {
	s.store.metrics.lag.WithLabelValues(s.cfg.Group, topic, strconv.Itoa(partition)).Set(float64(max(lag, 0)))
}

func (s *Subscriber) setCommitted(topic string, partition int, next int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.committed[topic] == nil {
		s.committed[topic] = make(map[int]int64)
	}
	s.committed[topic][partition] = next
}

// forgetPartition drops what this member knew of a partition it no longer
// owns, so its metrics do not report a stale lag.
func (s *Subscriber) forgetPartition(topic string, partition int) {
	s.mu.Lock()
	delete(s.committed[topic], partition)
	s.mu.Unlock()
	s.store.metrics.lag.DeleteLabelValues(s.cfg.Group, topic, strconv.Itoa(partition))
}

// Committed returns the offsets this member committed for the partitions it
// owns now: topic -> partition -> next offset to read.
func (s *Subscriber) Committed() map[string]map[int]int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]map[int]int64, len(s.committed))
	for t, ps := range s.committed {
		out[t] = make(map[int]int64, len(ps))
		for p, o := range ps {
			out[t][p] = o
		}
	}
	return out
}
