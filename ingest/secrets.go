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

// CatalogSecrets derives brands' webhook secrets from the master key and
// the salt salts holds for each brand (one lookup per call: wrap it in a
// CachedSecrets).
func CatalogSecrets(salts SaltSource, key credentials.MasterKey) SecretFunc {
	return func(ctx context.Context, brandID string) (string, bool, error) {
		salt, ok, err := salts.WebhookSecretSalt(ctx, brandID)
		if err != nil || !ok {
			return "", false, err
		}
		return key.WebhookSecret(brandID, salt), true, nil
	}
}

// CacheConfig tunes a CachedSecrets. The zero value is the default.
type CacheConfig struct {
	// TTL is how long a found secret is reused. Default 1 minute. Secrets
	// derive from the master key and a salt that never changes, so only a
	// master key change (a restart) invalidates them.
	TTL time.Duration
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
	secret  string
	ok      bool
	expires time.Time
}

// secretCall is one lookup that concurrent misses wait for.
type secretCall struct {
	done   chan struct{}
	secret string
	ok     bool
	err    error
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
	if cfg.LookupTimeout <= 0 {
		cfg.LookupTimeout = 5 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &CachedSecrets{src: src, cfg: cfg, entries: make(map[string]secretEntry), inflight: make(map[string]*secretCall)}
}

// WebhookSecret returns the cached answer for brandID, or looks it up.
func (c *CachedSecrets) WebhookSecret(ctx context.Context, brandID string) (string, bool, error) {
	now := c.cfg.Now()
	c.mu.RLock()
	e, hit := c.entries[brandID]
	c.mu.RUnlock()
	if hit && now.Before(e.expires) {
		return e.secret, e.ok, nil
	}

	c.mu.Lock()
	if call, ok := c.inflight[brandID]; ok {
		c.mu.Unlock()
		select {
		case <-call.done:
			return call.secret, call.ok, call.err
		case <-ctx.Done():
			return "", false, ctx.Err()
		}
	}
	call := &secretCall{done: make(chan struct{})}
	c.inflight[brandID] = call
	c.mu.Unlock()

	// The lookup serves every waiter: it must not end with the request
	// that happened to start it.
	lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.cfg.LookupTimeout)
	call.secret, call.ok, call.err = c.src.WebhookSecret(lctx, brandID)
	cancel()

	c.mu.Lock()
	delete(c.inflight, brandID)
	if call.err == nil {
		ttl := c.cfg.TTL
		if !call.ok {
			ttl = c.cfg.NegativeTTL
		}
		c.makeRoom(now)
		c.entries[brandID] = secretEntry{secret: call.secret, ok: call.ok, expires: now.Add(ttl)}
	}
	c.mu.Unlock()
	close(call.done)
	return call.secret, call.ok, call.err
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
