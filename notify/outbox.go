// Package notify emails creators the decision on their promo-code requests:
// one email when a request is confirmed (with the code) and one when it is
// rejected (with the brand's reason).
//
// The emails are an outbox driven from the log. An Outbox consumes the
// catalog topic in its own consumer group and, for each code.confirmed and
// code.rejected event, claims the decision in Markers, hands the message to
// a Sender, then marks it sent. The group's committed position makes a
// restart resume after the last handled decision; the markers make a
// redelivered batch, a second group member or a full replay of the log send
// nothing twice.
//
// # The crash window that remains
//
// A process that dies after the sender accepted an email (the SMTP server
// answered 250 to the end of the message) and before MarkSent reached Redis
// leaves the decision claimed but not marked. Once the claim's lease expires
// (Config.Lease, default 2 minutes) the next owner of the partition sends the
// email again. The same holds when the server's 250 is lost on the way back
// (a timeout after the message was in fact taken): SMTP cannot tell the two
// apart. Both copies are byte for byte the same, with the same Message-ID,
// <event id@attrib>, so a mail store or client that dedupes by Message-ID
// (Gmail, for one, keeps a single copy) shows the email once. FileSender has
// no such window: an existing file counts as sent. A failure of Redis alone
// (the process lives) does not resend: the Outbox remembers in memory what it
// sent but could not mark, and on the next attempt marks it without sending.
package notify

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/attrib-engine/attrib/eventstore"
	"github.com/attrib-engine/attrib/schemas"
)

// Group is the consumer group of the email outbox. Renaming it starts a new
// group that replays the catalog topic from the beginning; the markers make
// that harmless (nothing already sent is sent again, and decisions older
// than MaxAge are skipped), but it costs one Redis round trip per past
// decision.
const Group = "attrib-email"

// Directory finds what an email needs beyond the decision event. The lead
// implementation reads the Redis projections. ok false means "not known
// yet": the projection may lag behind the log, so the Outbox retries.
type Directory interface {
	// Creator returns the creator's display name and email address.
	Creator(ctx context.Context, creatorID string) (name, email string, ok bool, err error)
	// Offer returns the offer's and its brand's names.
	Offer(ctx context.Context, brandID, offerID string) (offerName, brandName string, ok bool, err error)
}

// RequestDirectory is an optional extension of a Directory. code.rejected
// does not carry the platform of the request; when the Directory also
// implements RequestDirectory, the rejection email names it. Not found is
// not an error: the email is sent without it.
type RequestDirectory interface {
	// RequestPlatform returns the platform of a code request.
	RequestPlatform(ctx context.Context, brandID, requestID string) (platform string, ok bool, err error)
}

// ClaimResult is the outcome of Markers.Claim.
type ClaimResult int

// Claim outcomes.
const (
	// Claimed: the caller holds the lease and may send.
	Claimed ClaimResult = iota + 1
	// AlreadySent: the email was sent before; send nothing.
	AlreadySent
	// AlreadyFailed: the email failed permanently before; send nothing.
	AlreadyFailed
	// Busy: another owner holds the lease (sending now, or died sending);
	// try again later.
	Busy
)

// String returns the outcome's name.
func (c ClaimResult) String() string {
	switch c {
	case Claimed:
		return "claimed"
	case AlreadySent:
		return "already sent"
	case AlreadyFailed:
		return "already failed"
	case Busy:
		return "busy"
	}
	return fmt.Sprintf("ClaimResult(%d)", int(c))
}

// Markers record which decisions' emails are settled, so that no decision is
// emailed twice. Implementations must be safe for concurrent use, and must
// live outside anything that is dropped and rebuilt from the log.
type Markers interface {
	// Claim atomically takes a lease on eventID for owner, unless the email
	// is settled (sent or failed) or another owner's lease is running. An
	// owner may claim again what it holds, which extends the lease.
	Claim(ctx context.Context, eventID, owner string, lease time.Duration) (ClaimResult, error)
	// Release drops owner's lease after a failed attempt, so the next
	// attempt (by anyone) need not wait for it to expire.
	Release(ctx context.Context, eventID, owner string) error
	// MarkSent records that the sender accepted the email.
	MarkSent(ctx context.Context, eventID string) error
	// MarkFailed records that the email can never be sent, and why.
	MarkFailed(ctx context.Context, eventID, reason string) error
}

// Sender hands a message to the mail system.
type Sender interface {
	// Send returns nil once the message is accepted (and will not be lost
	// by the receiver). A *PermanentError means this message can never be
	// sent; any other error is transient and the send is retried.
	Send(ctx context.Context, m Message) error
}

// PermanentError is a Sender's answer that a message can never be
// delivered (such as an SMTP server refusing the recipient's mailbox).
type PermanentError struct {
	Err error
}

// Error returns the cause's message.
func (e *PermanentError) Error() string { return "permanent: " + e.Err.Error() }

// Unwrap returns the cause.
func (e *PermanentError) Unwrap() error { return e.Err }

// Config configures an Outbox.
type Config struct {
	// Directory resolves creators and offers. Required.
	Directory Directory
	// Markers keep the sent/failed state of each decision. Required.
	Markers Markers
	// Sender delivers the messages (see NewSender). Required.
	Sender Sender
	// MaxAge skips decisions that occurred longer ago than this, so that
	// starting the outbox over an existing log (first deployment, new group,
	// markers lost) does not email creators about decisions made months
	// ago, and markers need only be kept a bounded time. Default 7 days;
	// negative: no limit.
	MaxAge time.Duration
	// Lease is how long a claim protects a decision being sent; Send gets
	// half of it as its deadline, so an attempt never outlives its lease.
	// Default 2 minutes.
	Lease time.Duration
	// Registerer receives the Outbox's metrics; nil: none.
	Registerer prometheus.Registerer
	// Logger; default slog.Default().
	Logger *slog.Logger
	// Now is the clock MaxAge is measured by; default time.Now.
	Now func() time.Time
}

// retentioner is implemented by markers whose settled state expires
// (RedisMarkers); 0 means forever.
type retentioner interface{ Retention() time.Duration }

// Validate checks c and fills in defaults.
func (c *Config) Validate() error {
	switch {
	case c.Directory == nil:
		return errors.New("email outbox: no directory")
	case c.Markers == nil:
		return errors.New("email outbox: no markers")
	case c.Sender == nil:
		return errors.New("email outbox: no sender")
	}
	if c.MaxAge == 0 {
		c.MaxAge = 7 * 24 * time.Hour
	}
	if c.Lease <= 0 {
		c.Lease = 2 * time.Minute
	}
	if r, ok := c.Markers.(retentioner); ok && r.Retention() > 0 {
		if c.MaxAge < 0 {
			return fmt.Errorf("email outbox: markers expire after %v but MaxAge is unlimited: an old decision replayed after its marker expired would be emailed again", r.Retention())
		}
		// A marker must outlive the window in which its decision can still
		// be sent, plus a day of slack for clock skew and slow sends.
		if r.Retention() < c.MaxAge+24*time.Hour {
			return fmt.Errorf("email outbox: markers expire after %v, which is not at least a day longer than MaxAge %v", r.Retention(), c.MaxAge)
		}
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return nil
}

// Outbox sends one email per code-request decision. It is an
// eventstore.PartitionHandler, safe for concurrent use by every partition
// (see SubscriberConfig).
type Outbox struct {
	cfg     Config
	log     *slog.Logger
	metrics *metrics
	// owner names this Outbox's leases.
	owner string

	mu sync.Mutex
	// unmarked holds decisions this process sent but could not mark: a
	// retry marks them without sending again.
	unmarked map[string]bool
}

// NewOutbox validates cfg and returns an Outbox.
func NewOutbox(cfg Config) (*Outbox, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	var b [8]byte
	_, _ = rand.Read(b[:])
	return &Outbox{
		cfg:      cfg,
		log:      cfg.Logger.With("component", "email-outbox"),
		metrics:  newMetrics(cfg.Registerer),
		owner:    hex.EncodeToString(b[:]),
		unmarked: make(map[string]bool),
	}, nil
}

// SubscriberConfig returns the subscription of the outbox: Group on
// schemas.TopicCatalog with the Outbox as handler. The caller may set the
// timings and the logger before eventstore.NewSubscriber.
func (o *Outbox) SubscriberConfig() eventstore.SubscriberConfig {
	return eventstore.SubscriberConfig{
		Group:   Group,
		Topics:  []string{schemas.TopicCatalog},
		Handler: eventstore.Stateless(o),
	}
}

// Handle emails the decisions of a batch, in order. Other events are
// skipped; an undecodable decision is rejected to the dead-letter topic.
// An error (directory not caught up, Redis or the mail server unavailable)
// makes the subscriber retry the batch with backoff; the decisions already
// settled are then skipped by their markers.
func (o *Outbox) Handle(ctx context.Context, b *eventstore.Batch) error {
	for i := range b.Messages {
		env := b.Messages[i].Envelope
		d, ok, err := DecisionOf(env)
		if err != nil {
			b.Reject(i, err.Error())
			continue
		}
		if !ok {
			continue
		}
		if err := o.deliver(ctx, d); err != nil {
			o.metrics.retried.Inc()
			return fmt.Errorf("email for %s %s (offset %d): %w", env.Type, env.EventID, b.Messages[i].Offset, err)
		}
	}
	return nil
}

// deliver settles one decision: sends it once, or records why it never
// will be.
func (o *Outbox) deliver(ctx context.Context, d Decision) error {
	log := o.log.With("event_id", d.EventID, "request_id", d.RequestID, "creator_id", d.CreatorID)
	if o.cfg.MaxAge > 0 {
		if age := o.cfg.Now().Sub(d.At); age > o.cfg.MaxAge {
			o.metrics.skipped.WithLabelValues("stale").Inc()
			log.Debug("decision too old to email; skipped", "age", age.Round(time.Second), "max_age", o.cfg.MaxAge)
			return nil
		}
	}
	if o.wasUnmarked(d.EventID) {
		// Sent by this process on an earlier attempt; only the marker is
		// missing. Never send again.
		return o.markSent(ctx, d.EventID, log)
	}

	claim, err := o.cfg.Markers.Claim(ctx, d.EventID, o.owner, o.cfg.Lease)
	if err != nil {
		return err
	}
	switch claim {
	case AlreadySent, AlreadyFailed:
		o.metrics.skipped.WithLabelValues("settled").Inc()
		return nil
	case Busy:
		return fmt.Errorf("another worker holds the claim (sending now, or died sending: its lease expires within %v)", o.cfg.Lease)
	}

	msg, err := o.compose(ctx, d)
	if errors.Is(err, errInvalidAddress) {
		return o.fail(ctx, d.EventID, "invalid_address", err, log)
	}
	if err != nil {
		o.release(ctx, d.EventID, log)
		return err
	}

	sctx, cancel := context.WithTimeout(ctx, o.cfg.Lease/2)
	err = o.cfg.Sender.Send(sctx, msg)
	cancel()
	var perm *PermanentError
	if errors.As(err, &perm) {
		return o.fail(ctx, d.EventID, "refused", err, log)
	}
	if err != nil {
		o.release(ctx, d.EventID, log)
		return fmt.Errorf("send to %s: %w", msg.To.Address, err)
	}
	o.metrics.sent.Inc()
	log.Info("decision emailed", "confirmed", d.Confirmed, "to", msg.To.Address, "message_id", msg.MessageID())
	return o.markSent(ctx, d.EventID, log)
}

// compose looks up the creator and the offer and builds the message.
func (o *Outbox) compose(ctx context.Context, d Decision) (Message, error) {
	name, email, ok, err := o.cfg.Directory.Creator(ctx, d.CreatorID)
	if err != nil {
		return Message{}, fmt.Errorf("look up creator %s: %w", d.CreatorID, err)
	}
	if !ok {
		return Message{}, fmt.Errorf("creator %s is not in the directory yet", d.CreatorID)
	}
	offerName, brandName, ok, err := o.cfg.Directory.Offer(ctx, d.BrandID, d.OfferID)
	if err != nil {
		return Message{}, fmt.Errorf("look up offer %s of brand %s: %w", d.OfferID, d.BrandID, err)
	}
	if !ok {
		return Message{}, fmt.Errorf("offer %s of brand %s is not in the directory yet", d.OfferID, d.BrandID)
	}
	if rd, isRD := o.cfg.Directory.(RequestDirectory); isRD && d.Platform == "" {
		p, found, err := rd.RequestPlatform(ctx, d.BrandID, d.RequestID)
		if err != nil {
			return Message{}, fmt.Errorf("look up request %s of brand %s: %w", d.RequestID, d.BrandID, err)
		}
		if found {
			d.Platform = p
		}
	}
	to, err := recipient(name, email)
	if err != nil {
		return Message{}, err
	}
	return Compose(d, to, offerName, brandName), nil
}

// fail records a permanent failure; the partition moves on.
func (o *Outbox) fail(ctx context.Context, eventID, cause string, err error, log *slog.Logger) error {
	if merr := o.cfg.Markers.MarkFailed(ctx, eventID, err.Error()); merr != nil {
		o.release(ctx, eventID, log)
		return merr // nothing was sent: the retry decides again
	}
	o.metrics.failed.WithLabelValues(cause).Inc()
	log.Error("decision can never be emailed; marked failed", "cause", cause, "err", err)
	return nil
}

// markSent records a sent email, retrying in place for as long as ctx
// allows rather than letting the batch be retried (which would send again).
func (o *Outbox) markSent(ctx context.Context, eventID string, log *slog.Logger) error {
	wait := 20 * time.Millisecond
	for {
		err := o.cfg.Markers.MarkSent(ctx, eventID)
		if err == nil {
			o.setUnmarked(eventID, false)
			return nil
		}
		o.setUnmarked(eventID, true)
		log.Warn("email sent but not yet marked; retrying the marker", "err", err)
		select {
		case <-ctx.Done():
			return fmt.Errorf("sent, but the marker is not stored (a restart before it is would send again): %w", err)
		case <-time.After(wait):
		}
		wait = min(2*wait, 2*time.Second)
	}
}

// release gives the claim back after a failed attempt. A failure here only
// delays the retry until the lease expires.
func (o *Outbox) release(ctx context.Context, eventID string, log *slog.Logger) {
	if err := o.cfg.Markers.Release(ctx, eventID, o.owner); err != nil {
		log.Warn("release claim", "err", err)
	}
}

func (o *Outbox) wasUnmarked(eventID string) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.unmarked[eventID]
}

func (o *Outbox) setUnmarked(eventID string, v bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if v {
		o.unmarked[eventID] = true
	} else {
		delete(o.unmarked, eventID)
	}
}
