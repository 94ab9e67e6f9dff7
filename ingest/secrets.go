package ingest

import (
	"context"
	"sync"
	"time"

	"github.com/attrib-engine/attrib/credentials"
)

// SecretSource finds a brand's webhook secret. ok is false for a brand that
// does not exist; err is for a source that cannot answer (the webhook then
// answers 503).
type SecretSource interface {
	WebhookSecret(ctx context.Context, brandID string) (secret string, ok bool, err error)
}

// SecretFunc adapts a function to a SecretSource.
type SecretFunc func(ctx context.Context, brandID string) (secret string, ok bool, err error)

// WebhookSecret calls f.
func (f SecretFunc) WebhookSecret(ctx context.Context, brandID string) (string, bool, error) {
	return f(ctx, brandID)
}

// SaltSource finds the salt a brand's webhook secret derives from, as the
// catalog holds it (the catalog's Redis projection is one). ok is false for
// a brand that does not exist; err is for a source that cannot answer.
type SaltSource interface {
	WebhookSecretSalt(ctx context.Context, brandID string) (salt string, ok bool, err error)
}

// SaltRing is a brand's current webhook secret salt and, after a rotation,
// the previous one with the end (excluded) of its grace.
type SaltRing struct {
	Current            string
	Previous           string
	PreviousValidUntil time.Time
}

// SaltRingSource is a SaltSource that also knows the previous salt of a
// rotated secret. CatalogSecrets uses it when its source has it.
type SaltRingSource interface {
	WebhookSecretSaltRing(ctx context.Context, brandID string) (ring SaltRing, ok bool, err error)
}

// Keyring holds the webhook secrets a brand's signatures may use: the
// current one always, the previous one (after a rotation) until
// PreviousValidUntil, excluded.
type Keyring struct {
	Current            string
	Previous           string
	PreviousValidUntil time.Time
}

// previousAt returns the previous secret when it is still valid at now.
func (k Keyring) previousAt(now time.Time) (string, bool) {
	return k.Previous, k.Previous != "" && now.Before(k.PreviousValidUntil)
}

// KeyringSource is a SecretSource that knows rotated secrets too; the
// webhook accepts a signature by any secret of the keyring that is valid
// at the request's time. CatalogSecrets and CachedSecrets are ones.
type KeyringSource interface {
	SecretSource
	WebhookKeyring(ctx context.Context, brandID string) (ring Keyring, ok bool, err error)
}

// keyringOf asks src for brandID's keyring, or its one secret.
func keyringOf(ctx context.Context, src SecretSource, brandID string) (Keyring, bool, error) {
	if ks, ok := src.(KeyringSource); ok {
		return ks.WebhookKeyring(ctx, brandID)
	}
	s, ok, err := src.WebhookSecret(ctx, brandID)
	return Keyring{Current: s}, ok, err
}

// CatalogSecrets derives brands' webhook secrets from the master key and
// the salts salts holds for each brand: the current one and, when salts is
// a SaltRingSource, the previous one during its grace (one lookup per
// call: wrap it in a CachedSecrets).
func CatalogSecrets(salts SaltSource, key credentials.MasterKey) *CatalogSecretSource {
	return &CatalogSecretSource{salts: salts, key: key}
}

// CatalogSecretSource is the KeyringSource of CatalogSecrets.
type CatalogSecretSource struct {
	salts SaltSource
	key   credentials.MasterKey
}

// WebhookSecret returns brandID's current secret.
func (c *CatalogSecretSource) WebhookSecret(ctx context.Context, brandID string) (string, bool, error) {
	ring, ok, err := c.WebhookKeyring(ctx, brandID)
	return ring.Current, ok, err
}

// WebhookKeyring returns brandID's secrets.
func (c *CatalogSecretSource) WebhookKeyring(ctx context.Context, brandID string) (Keyring, bool, error) {
	var salts SaltRing
	if rs, ok := c.salts.(SaltRingSource); ok {
		r, ok, err := rs.WebhookSecretSaltRing(ctx, brandID)
		if err != nil || !ok {
			return Keyring{}, false, err
		}
		salts = r
	} else {
		salt, ok, err := c.salts.WebhookSecretSalt(ctx, brandID)
		if err != nil || !ok {
			return Keyring{}, false, err
		}
		salts.Current = salt
	}
	ring := Keyring{Current: c.key.WebhookSecret(brandID, salts.Current)}
	if salts.Previous != "" {
		ring.Previous, ring.PreviousValidUntil = c.key.WebhookSecret(brandID, salts.Previous), salts.PreviousValidUntil
	}
	return ring, true, nil
}

// CacheConfig tunes a CachedSecrets. The zero value is the default.
type CacheConfig struct {
	// TTL is how long a found keyring is reused. Default 1 minute. A
	// rotation changes a brand's keyring: a signature that none of the
	// cached secrets verifies makes the webhook look the keyring up again
	// (Reload), so a new secret works at once, in every process. The
	// previous secret's expiry is checked against the request's time, so
	// caching never stretches its grace.
	TTL time.Duration
	// ReloadInterval is the least time between two lookups of one brand's
	// keyring forced by unverified signatures, so that a flood of bad
	// signatures costs one lookup per interval. Default 1 s.
	ReloadInterval time.Duration
	// NegativeTTL is how long "no such brand" is reused, so that requests
	// naming unknown brands do not each cost a lookup. Default 5 s: a brand
	// registered meanwhile waits at most that long (registration answers
	// only once the catalog projection has the brand, so normally the
	// brand is known before its shop can send anything).
	NegativeTTL time.Duration
	// MaxEntries bounds the cache (unknown brand ids cost an entry each
	// for NegativeTTL). When full, expired entries are dropped, then
	// arbitrary ones. Default 100000.
	MaxEntries int
	// LookupTimeout bounds one lookup, which concurrent requests for the
	// brand share. Default 5 s.
	LookupTimeout time.Duration
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

// CachedSecrets is a SecretSource that keeps the answers of another one in
// memory, so the webhook's hot path makes no lookup per request. Concurrent
// misses for one brand share one lookup. Errors are not cached. It is safe
// for concurrent use.
type CachedSecrets struct {
	src SecretSource
	cfg CacheConfig

	mu       sync.RWMutex
	entries  map[string]secretEntry
	inflight map[string]*secretCall
}

type secretEntry struct {
	ring    Keyring
	ok      bool
	fetched time.Time
	expires time.Time
}

// secretCall is one lookup that concurrent misses wait for.
type secretCall struct {
	done chan struct{}
	ring Keyring
	ok   bool
	err  error
}

// NewCachedSecrets returns a cache in front of src.
func NewCachedSecrets(src SecretSource, cfg CacheConfig) *CachedSecrets {
	if cfg.TTL <= 0 {
		cfg.TTL = time.Minute
	}
	if cfg.NegativeTTL <= 0 {
		cfg.NegativeTTL = 5 * time.Second
	}
	if cfg.MaxEntries <= 0 {
		cfg.MaxEntries = 100_000
	}
	if cfg.ReloadInterval <= 0 {
		cfg.ReloadInterval = time.Second
	}
	if cfg.LookupTimeout <= 0 {
		cfg.LookupTimeout = 5 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &CachedSecrets{src: src, cfg: cfg, entries: make(map[string]secretEntry), inflight: make(map[string]*secretCall)}
}

// WebhookSecret returns brandID's current secret, cached or looked up.
func (c *CachedSecrets) WebhookSecret(ctx context.Context, brandID string) (string, bool, error) {
	ring, ok, err := c.WebhookKeyring(ctx, brandID)
	return ring.Current, ok, err
}

// WebhookKeyring returns the cached keyring of brandID, or looks it up.
func (c *CachedSecrets) WebhookKeyring(ctx context.Context, brandID string) (Keyring, bool, error) {
	now := c.cfg.Now()
	c.mu.RLock()
	e, hit := c.entries[brandID]
	c.mu.RUnlock()
	if hit && now.Before(e.expires) {
		return e.ring, e.ok, nil
	}
	return c.lookup(ctx, brandID, now)
}

// Reload looks brandID's keyring up again, unless it was fetched less
// than ReloadInterval ago (then it returns the cached one): the webhook
// calls it when no cached secret verifies a signature, which is how a
// rotated secret reaches every process at once.
func (c *CachedSecrets) Reload(ctx context.Context, brandID string) (Keyring, bool, error) {
	now := c.cfg.Now()
	c.mu.RLock()
	e, hit := c.entries[brandID]
	c.mu.RUnlock()
	if hit && now.Sub(e.fetched) < c.cfg.ReloadInterval {
		return e.ring, e.ok, nil
	}
	return c.lookup(ctx, brandID, now)
}

// lookup asks the source, sharing one call among concurrent callers.
func (c *CachedSecrets) lookup(ctx context.Context, brandID string, now time.Time) (Keyring, bool, error) {
	c.mu.Lock()
	if call, ok := c.inflight[brandID]; ok {
		c.mu.Unlock()
		select {
		case <-call.done:
			return call.ring, call.ok, call.err
		case <-ctx.Done():
			return Keyring{}, false, ctx.Err()
		}
	}
	call := &secretCall{done: make(chan struct{})}
	c.inflight[brandID] = call
	c.mu.Unlock()

	// The lookup serves every waiter: it must not end with the request
	// that happened to start it.
	lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.cfg.LookupTimeout)
	call.ring, call.ok, call.err = keyringOf(lctx, c.src, brandID)
	cancel()

	c.mu.Lock()
	delete(c.inflight, brandID)
	if call.err == nil {
		ttl := c.cfg.TTL
		if !call.ok {
			ttl = c.cfg.NegativeTTL
		}
		c.makeRoom(now)
		c.entries[brandID] = secretEntry{ring: call.ring, ok: call.ok, fetched: now, expires: now.Add(ttl)}
	}
	c.mu.Unlock()
	close(call.done)
	return call.ring, call.ok, call.err
}

// makeRoom drops entries when the cache is full: expired ones first, then
// arbitrary ones (map order), down to 90% of MaxEntries. c.mu is held.
func (c *CachedSecrets) makeRoom(now time.Time) {
	if len(c.entries) < c.cfg.MaxEntries {
		return
	}
	for k, e := range c.entries {
		if !now.Before(e.expires) {
			delete(c.entries, k)
		}
	}
	for k := range c.entries {
		if len(c.entries) < c.cfg.MaxEntries*9/10 {
			break
		}
		delete(c.entries, k)
	}
}

// Forget drops brandID's cached answer, so the next request looks it up.
func (c *CachedSecrets) Forget(brandID string) {
	c.mu.Lock()
	delete(c.entries, brandID)
	c.mu.Unlock()
}
