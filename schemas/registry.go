package schemas

import (
	"bytes"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// Event is the payload of one domain event. Every payload type of this
// package implements it with a value receiver, so both T and *T are Events;
// Decode returns *T.
type Event interface {
	EventType() string
}

// Upcaster rewrites a payload written with one schema version as the next
// version. Upcasters are pure and chained: v1 -> v2 -> ... -> current.
type Upcaster func(json.RawMessage) (json.RawMessage, error)

// Errors that Decode and NewEnvelope wrap. Consumers send events failing
// with them to the dead-letter topic.
var (
	// ErrUnknownType: the envelope's type is not an event this build knows.
	ErrUnknownType = errors.New("unknown event type")
	// ErrUnknownVersion: the schema version is below 1 or newer than this
	// build knows (written by a newer producer; upgrade the consumer).
	ErrUnknownVersion = errors.New("unknown schema version")
)

// spec describes one event type.
type spec struct {
	topic    string
	version  int // current schema version
	doc      string
	newEvent func() Event
	// upcasters[i] turns version i+1 into version i+2; len == version-1.
	upcasters []Upcaster
}

// specs is the registry: every event type of the domain. Adding a version:
// bump version, append an upcaster, change the Go type, then run
// `go test ./schemas -update` to write json/<type>.v<version>.json; the
// older schema files stay as they are.
var specs = map[string]spec{
	TypeBrandRegistered: {topic: TopicCatalog, version: 1, newEvent: func() Event { return new(BrandRegistered) },
		doc: "A brand was registered. Only the hash of its API key and the salt of its webhook secret are recorded."},
	TypeCreatorRegistered: {topic: TopicCatalog, version: 1, newEvent: func() Event { return new(CreatorRegistered) },
		doc: "A creator was registered. Only the hash of the bearer token is recorded."},
	TypeAnalystRegistered: {topic: TopicCatalog, version: 1, newEvent: func() Event { return new(AnalystRegistered) },
		doc: "An analyst was registered. Only the hash of the bearer token is recorded."},
	TypeOfferPublished: {topic: TopicCatalog, version: 1, newEvent: func() Event { return new(OfferPublished) },
		doc: "A brand published a CPA offer."},
	TypeOfferChanged: {topic: TopicCatalog, version: 1, newEvent: func() Event { return new(OfferChanged) },
		doc: "A brand changed an offer; absent fields keep their value. Effective at the envelope's occurred_at."},
	TypeCodeRequested: {topic: TopicCatalog, version: 1, newEvent: func() Event { return new(CodeRequested) },
		doc: "A creator requested a promo code for an offer; the request is in moderation."},
	TypeCodeConfirmed: {topic: TopicCatalog, version: 1, newEvent: func() Event { return new(CodeConfirmed) },
		doc: "A brand confirmed a code request and issued a code, active from the envelope's occurred_at."},
	TypeCodeRejected: {topic: TopicCatalog, version: 1, newEvent: func() Event { return new(CodeRejected) },
		doc: "A brand rejected a code request with a reason."},
	TypeCodeRevoked: {topic: TopicCatalog, version: 1, newEvent: func() Event { return new(CodeRevoked) },
		doc: "A brand revoked a code; orders placed from the envelope's occurred_at on are not attributed to it."},
	TypeBrandAPIKeyRotated: {topic: TopicCatalog, version: 1, newEvent: func() Event { return new(BrandAPIKeyRotated) },
		doc: "A brand rotated its API key; the previous key stays valid for 24 hours from the event. Only hashes are recorded."},
	TypeBrandWebhookSecretRotated: {topic: TopicCatalog, version: 1, newEvent: func() Event { return new(BrandWebhookSecretRotated) },
		doc: "A brand rotated its webhook secret (a new salt); the previous secret stays valid for 24 hours from the event."},
	TypeCreatorTokenRotated: {topic: TopicCatalog, version: 1, newEvent: func() Event { return new(CreatorTokenRotated) },
		doc: "A creator rotated their bearer token; the previous token stays valid for 24 hours from the event. Only hashes are recorded."},
	TypeAnalystTokenRotated: {topic: TopicCatalog, version: 1, newEvent: func() Event { return new(AnalystTokenRotated) },
		doc: "An analyst rotated their bearer token; the previous token stays valid for 24 hours from the event. Only hashes are recorded."},
	TypeConnectorSet: {topic: TopicCatalog, version: 1, newEvent: func() Event { return new(ConnectorSet) },
		doc: "A brand connected a shop platform (or changed the connection): the shop's signing secret sealed with the server master key, and what confirms an order."},
	TypeConnectorRemoved: {topic: TopicCatalog, version: 1, newEvent: func() Event { return new(ConnectorRemoved) },
		doc: "A brand disconnected a shop platform; its deliveries are refused from then on."},
	TypeOrderPlaced: {topic: TopicOrders, version: 2, newEvent: func() Event { return new(OrderPlaced) },
		doc:       "A shop reported a placed order; the envelope's occurred_at is the placed time. Version 1 had no country.",
		upcasters: []Upcaster{upcastOrderPlacedV1}},
	TypeOrderConfirmed: {topic: TopicOrders, version: 1, newEvent: func() Event { return new(OrderConfirmed) },
		doc: "A shop confirmed an order (its return window is over)."},
	TypeOrderCancelled: {topic: TopicOrders, version: 1, newEvent: func() Event { return new(OrderCancelled) },
		doc: "A shop cancelled an order."},
	TypeOrderRefunded: {topic: TopicOrders, version: 1, newEvent: func() Event { return new(OrderRefunded) },
		doc: "A shop refunded an order fully or partly."},
	TypeOrderHoldExpired: {topic: TopicOrders, version: 1, newEvent: func() Event { return new(OrderHoldExpired) },
		doc: "The engine saw an attributed order's hold period end without cancellation."},
	TypeOrderAttributed: {topic: TopicAttributions, version: 1, newEvent: func() Event { return new(OrderAttributed) },
		doc: "An order was attributed to a creator's code: the full row, with the decision that explains it."},
	TypeOrderUnattributed: {topic: TopicAttributions, version: 1, newEvent: func() Event { return new(OrderUnattributed) },
		doc: "An order was not attributed to any creator, with the reason and the decision that explains it."},
	TypeOrderEarningsAdjusted: {topic: TopicAttributions, version: 1, newEvent: func() Event { return new(OrderEarningsAdjusted) },
		doc: "An attributed order's status or earnings changed: the full new row and the event type that caused it."},
}

//go:embed json/*.json
var schemaFiles embed.FS

// schemaKey names one schema version of one event type.
type schemaKey struct {
	eventType string
	version   int
}

// compiledSchema is one embedded schema file and its compiled form.
type compiledSchema struct {
	raw    []byte
	schema *jsonschema.Schema
}

// Every schema version of every event type is compiled once, on first use:
// a missing or broken embedded schema is a build defect that the package's
// tests catch; in a running binary it fails every Decode with the reason
// rather than panicking at import.
var (
	compileOnce sync.Once
	compiled    map[schemaKey]compiledSchema
	compileErr  error
)

// schemaOf returns one compiled schema version of an event type; the type
// and version must have passed lookup.
func schemaOf(eventType string, version int) (compiledSchema, error) {
	compileOnce.Do(func() { compiled, compileErr = compileSchemas() })
	if compileErr != nil {
		return compiledSchema{}, compileErr
	}
	return compiled[schemaKey{eventType, version}], nil
}

// typeNames is Types(), sorted once.
var typeNames = func() []string {
	names := make([]string, 0, len(specs))
	for t := range specs {
		names = append(names, t)
	}
	sort.Strings(names)
	return names
}()

func schemaFileName(eventType string, version int) string {
	return eventType + ".v" + strconv.Itoa(version) + ".json"
}

func compileSchemas() (map[schemaKey]compiledSchema, error) {
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	out := make(map[schemaKey]compiledSchema)
	for t, s := range specs {
		if len(s.upcasters) != s.version-1 {
			return nil, fmt.Errorf("schemas: %s is at version %d but has %d upcasters", t, s.version, len(s.upcasters))
		}
		for v := 1; v <= s.version; v++ {
			name := schemaFileName(t, v)
			raw, err := schemaFiles.ReadFile("json/" + name)
			if err != nil {
				return nil, fmt.Errorf("schemas: embedded schema %s: %w", name, err)
			}
			doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
			if err != nil {
				return nil, fmt.Errorf("schemas: parse %s: %w", name, err)
			}
			url := "urn:attrib:schemas:" + name
			if err := c.AddResource(url, doc); err != nil {
				return nil, fmt.Errorf("schemas: add %s: %w", name, err)
			}
			sch, err := c.Compile(url)
			if err != nil {
				return nil, fmt.Errorf("schemas: compile %s: %w", name, err)
			}
			out[schemaKey{t, v}] = compiledSchema{raw: raw, schema: sch}
		}
	}
	return out, nil
}

// Types returns every event type name, sorted.
func Types() []string { return slices.Clone(typeNames) }

// CurrentVersion returns the schema version this build writes for an event
// type; ok is false for an unknown type.
func CurrentVersion(eventType string) (version int, ok bool) {
	s, ok := specs[eventType]
	return s.version, ok
}

// TopicOf returns the topic an event type is written to, or "" for an
// unknown type.
func TopicOf(eventType string) string { return specs[eventType].topic }

// SchemaJSON returns the JSON Schema (draft 2020-12) of the current version
// of an event type's payload, for serving as /schemas/{type}.json.
func SchemaJSON(eventType string) ([]byte, bool) {
	s, ok := specs[eventType]
	if !ok {
		return nil, false
	}
	return SchemaJSONVersion(eventType, s.version)
}

// SchemaJSONVersion returns the JSON Schema of one version (current or
// older) of an event type's payload.
func SchemaJSONVersion(eventType string, version int) ([]byte, bool) {
	if _, err := lookup(eventType, version); err != nil {
		return nil, false
	}
	cs, err := schemaOf(eventType, version)
	if err != nil {
		return nil, false
	}
	return bytes.Clone(cs.raw), true
}

// lookup returns the spec of an event type and checks that version is one
// this build can read.
func lookup(eventType string, version int) (spec, error) {
	s, ok := specs[eventType]
	if !ok {
		return spec{}, fmt.Errorf("%w %q", ErrUnknownType, eventType)
	}
	if version < 1 || version > s.version {
		return spec{}, fmt.Errorf("%w: %s v%d (this build reads v1 to v%d)", ErrUnknownVersion, eventType, version, s.version)
	}
	return s, nil
}

// Topics returns the event topics of the domain, the ones the engine
// provisions at start.
func Topics() []string { return []string{TopicCatalog, TopicOrders, TopicAttributions} }
