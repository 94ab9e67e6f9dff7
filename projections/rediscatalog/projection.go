package rediscatalog

import (
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/attrib-engine/attrib/eventstore"
	"github.com/attrib-engine/attrib/internal/rediskey"
	"github.com/attrib-engine/attrib/schemas"
)

// Group is the consumer group of the projection's subscriber. Renaming it
// starts a new group that replays the whole catalog topic into the existing
// keys (harmless, as applying is idempotent, but slow).
const Group = "attrib-redis-catalog"

// DefaultPrefix is the key prefix when Config.Prefix is empty.
const DefaultPrefix = "attrib:"

// Config configures a Projection.
type Config struct {
	// Client is a single node, Sentinel or Cluster client
	// (redis.NewUniversalClient). Required. Replica reads must be off (see
	// the package doc).
	Client redis.UniversalClient
	// Prefix starts every key of the projection; Drop deletes every key
	// under it. Default DefaultPrefix.
	Prefix string
	// Logger; default slog.Default().
	Logger *slog.Logger
}

// Validate fills in defaults and checks the required fields.
func (c *Config) Validate() error {
	if c.Client == nil {
		return errors.New("redis catalog projection: no redis client")
	}
	if c.Prefix == "" {
		c.Prefix = DefaultPrefix
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return nil
}

// Projection is the Redis projection of the catalog topic: it applies
// batches of catalog events (Handler, Apply) and answers the reads of the
// API and the attribution worker. It is safe for concurrent use.
type Projection struct {
	client redis.UniversalClient
	prefix string
	log    *slog.Logger
	// codes remembers the code records LookupCodes decoded.
	codes codeMemo
}

// New validates cfg and returns a Projection.
func New(cfg Config) (*Projection, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Projection{client: cfg.Client, prefix: cfg.Prefix, log: cfg.Logger.With("projection", "redis-catalog")}, nil
}

// Prefix returns the key prefix.
func (p *Projection) Prefix() string { return p.prefix }

// SubscriberConfig returns the subscriber configuration that runs the
// projection live: Group on schemas.TopicCatalog with Handler. The caller
// may tune the other fields.
func (p *Projection) SubscriberConfig() eventstore.SubscriberConfig {
	return eventstore.SubscriberConfig{
		Group:   Group,
		Topics:  []string{schemas.TopicCatalog},
		Handler: p.Handler(),
		Logger:  p.log,
	}
}

// Key names. Components are escaped with rediskey.Seg.
const (
	kBrand           = "brand:"
	kCreator         = "creator:"
	kAnalyst         = "analyst:"
	kPrincipal       = "principal:"
	kClock           = "clock:"
	kOffer           = "offer:"
	kOffers          = "offers"
	kRequest         = "request:"
	kRequestsCreator = "requests:creator:"
	kRequestsBrand   = "requests:brand:"
	kCode            = "code:"
	kWatermark       = "wm:catalog"
)

func (p *Projection) brandKey(id string) string    { return p.prefix + kBrand + rediskey.Seg(id) }
func (p *Projection) creatorKey(id string) string  { return p.prefix + kCreator + rediskey.Seg(id) }
func (p *Projection) analystKey(id string) string  { return p.prefix + kAnalyst + rediskey.Seg(id) }
func (p *Projection) principalKey(h string) string { return p.prefix + kPrincipal + rediskey.Seg(h) }
func (p *Projection) clockKey(brand string) string { return p.prefix + kClock + rediskey.Seg(brand) }
func (p *Projection) offersKey() string            { return p.prefix + kOffers }
func (p *Projection) requestKey(id string) string  { return p.prefix + kRequest + rediskey.Seg(id) }
func (p *Projection) watermarkKey() string         { return p.prefix + kWatermark }

func (p *Projection) byCreatorKey(id string) string {
	return p.prefix + kRequestsCreator + rediskey.Seg(id)
}

func (p *Projection) byBrandKey(id string) string {
	return p.prefix + kRequestsBrand + rediskey.Seg(id)
}

func (p *Projection) offerKey(brand, offer string) string {
	return p.prefix + kOffer + offerMember(brand, offer)
}

func (p *Projection) codeKey(brand, normalized string) string {
	return p.prefix + kCode + rediskey.Seg(brand) + ":" + rediskey.Seg(normalized)
}

// offerMember names an offer in the offers set.
func offerMember(brand, offer string) string { return rediskey.Seg(brand) + ":" + rediskey.Seg(offer) }

// parseOfferMember splits an offers set member into brand and offer ids.
func parseOfferMember(m string) (brand, offer string, ok bool) {
	b, o, ok := strings.Cut(m, ":")
	if !ok {
		return "", "", false
	}
	return rediskey.Unseg(b), rediskey.Unseg(o), true
}

// Hash fields.
const (
	fName         = "name"
	fEmail        = "email"
	fAPIKeyHash   = "api_key_hash"
	fSalt         = "webhook_secret_salt"
	fRegisteredAt = "registered_at"
	fRole         = "role"
	fID           = "id"
	fBrandID      = "brand_id"
	fPublished    = "published"
	fChangePrefix = "change:"
	fRequested    = "requested"
	fDecision     = "decision"
	fRevokedAt    = "revoked_at"
	fCodePrefix   = "c:"
	fRevokePrefix = "r:"
	fWMOffset     = "o:"
	fWMTime       = "t:"
)

// Principal roles.
const (
	RoleBrand   = "brand"
	RoleCreator = "creator"
	RoleAnalyst = "analyst"
)

// clockLayout formats times at fixed width, in UTC, so that they compare
// as strings (clock members, watermark times).
const clockLayout = "2006-01-02T15:04:05.000000000Z"

func fmtTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

func parseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	return time.Parse(time.RFC3339Nano, s)
}

// score is a time as a sorted-set score: microseconds since the epoch,
// exact in a float64 for the next few centuries.
func score(t time.Time) float64 { return float64(t.UnixMicro()) }

// changeField names the hash field of the offer.changed at offset.
func changeField(offset int64) string { return fChangePrefix + fmt.Sprintf("%020d", offset) }

func parseOffset(s string) (int64, error) { return strconv.ParseInt(s, 10, 64) }
