// Package connectors translates shop platforms' own order webhooks into the
// engine's order events: one Platform per file (shopify.go,
// woocommerce.go), each a pure function from a delivery (topic, headers the
// platform sends, raw JSON body) to the events the engine's own webhook
// would have received. Package ingest verifies the platform's signature and
// hands the events to the same dedupe, log and attribution as its own
// webhook's.
//
// Platforms send whole-order snapshots, merge queued ones, deliver out of
// order and (Shopify) retry. So each event's id derives from the order and
// the state it records ("<platform>/<order id>/placed", ".../confirmed",
// ".../cancelled", ".../refund/<refund id>"): a snapshot that repeats a
// state already recorded is a duplicate, and a snapshot of a later state
// seen first places the order and applies that state in one delivery.
//
// Adding a platform is one more file that calls register from an init
// function.
package connectors

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Platform is one shop platform whose order webhooks the engine receives
// as the platform sends them.
type Platform struct {
	// Name is the platform's name in paths and settings: "shopify".
	Name string
	// ConfirmOn lists what may confirm an order (a topic or an order
	// status, as the platform names them), the default first.
	ConfirmOn []string
	// TopicHeader names the header that says what happened.
	TopicHeader string
	// SignatureHeader names the header that carries the base64
	// HMAC-SHA256 of the raw body, keyed by the connector's secret.
	SignatureHeader string
	// EventIDHeader names the header of the platform's duplicate key: the
	// same for every delivery of one event. Empty when the platform has
	// none that is unique.
	EventIDHeader string
	// Ping reports whether an unsigned delivery is the platform's notice
	// that a webhook was saved, answered 200 with nothing recorded whether
	// or not the connector is set. Nil: the platform has none.
	Ping func(d Delivery) bool
	// Translate turns one signed delivery into order events. It is pure;
	// a body that is not what the topic promises is a *FieldError.
	Translate func(d Delivery) (Translation, error)
}

// Delivery is one webhook request as a Platform reads it.
type Delivery struct {
	// Topic is the value of the platform's TopicHeader.
	Topic string
	// EventID is the value of the platform's EventIDHeader ("" when none).
	EventID string
	// ContentType is the request's Content-Type.
	ContentType string
	// Body is the raw body, unchanged.
	Body []byte
	// ReceivedAt is when the engine received it: the time of what a
	// delivery says without a time of its own (WooCommerce's
	// order.deleted).
	ReceivedAt time.Time
	// ConfirmOn is the connector's setting: what confirms an order.
	ConfirmOn string
}

// Translation is what one delivery means.
type Translation struct {
	// Events are the order events to record, in order (a placement before
	// the states it carries). None: the delivery records nothing (a topic
	// or status the engine does not use, a refund of shipping only).
	Events []Event
	// Test marks the platform's test notification: nothing is recorded,
	// and the connector's last delivery says "test".
	Test bool
}

// Event is one order event, as the engine's own webhook takes it (see
// API.md): the fields of order.placed, order.confirmed, order.cancelled
// and order.refunded.
type Event struct {
	// EventID is the event's id at the brand: derived from the order and
	// the state it records, so a repeated state is a duplicate.
	EventID string
	// Type is schemas.TypeOrderPlaced, TypeOrderConfirmed,
	// TypeOrderCancelled or TypeOrderRefunded.
	Type       string
	OrderID    string
	OccurredAt time.Time
	// PromoCodes, Amount, Currency and Country: order.placed only.
	PromoCodes []string
	Amount     string
	Currency   string
	Country    string
	// RefundAmount: order.refunded only, positive.
	RefundAmount string
}

// FieldError is a body that is not what its topic promises: the field (a
// path in the platform's JSON, such as "refund_line_items[0].subtotal", or
// "" for the body as a whole) and what is wrong with it.
type FieldError struct {
	Field   string
	Message string
}

// Error returns "field: message", or the message alone.
func (e *FieldError) Error() string {
	if e.Field == "" {
		return e.Message
	}
	return e.Field + ": " + e.Message
}

func bad(field, format string, args ...any) *FieldError {
	return &FieldError{Field: field, Message: fmt.Sprintf(format, args...)}
}

// platforms is the registry, filled by the platforms' init functions.
var platforms = map[string]*Platform{}

// register adds a platform; a second one of the same name is a bug.
func register(p Platform) {
	if _, dup := platforms[p.Name]; dup || p.Name == "" || len(p.ConfirmOn) == 0 || p.Translate == nil {
		panic("connectors: bad or duplicate platform " + p.Name)
	}
	platforms[p.Name] = &p
}

// Lookup returns the platform of a name.
func Lookup(name string) (*Platform, bool) {
	p, ok := platforms[name]
	return p, ok
}

// Names returns the platforms' names, sorted.
func Names() []string {
	out := make([]string, 0, len(platforms))
	for n := range platforms {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// All returns the platforms, sorted by name.
func All() []*Platform {
	out := make([]*Platform, 0, len(platforms))
	for _, n := range Names() {
		out = append(out, platforms[n])
	}
	return out
}

// WebhookPath is the path a brand's shop on platform posts to.
func WebhookPath(platform, brandID string) string {
	return "/v1/webhooks/" + platform + "/" + brandID
}

// eventID derives an event's id from the platform, the order and the
// state (and a refund's id): "<platform>/<order>/<state>[/<refund>]".
func eventID(platform, orderID string, state ...string) string {
	return platform + "/" + orderID + "/" + strings.Join(state, "/")
}
