package commands

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/attrib-engine/attrib/catalog"
	"github.com/attrib-engine/attrib/eventstore"
	"github.com/attrib-engine/attrib/schemas"
)

// TokenStates reads creators' and analysts' states for their token
// rotations; the catalog's Redis projection is one.
type TokenStates interface {
	CreatorToken(ctx context.Context, id string) (catalog.Creator, bool, error)
	AnalystToken(ctx context.Context, id string) (catalog.Analyst, bool, error)
}

// Locker serialises the rotations of one principal across API processes.
type Locker interface {
	// Lock takes the lock named key for at most ttl. ok is false when
	// another holder has it; unlock releases it (if still held).
	Lock(ctx context.Context, key string, ttl time.Duration) (unlock func(), ok bool, err error)
}

// ErrRotationInProgress is returned when another rotation of the same
// principal is being recorded; the API answers 409.
var ErrRotationInProgress = errors.New("another rotation of this token is in progress; retry in a moment")

// rotationLockTTL bounds how long a crashed process can hold a principal's
// rotation lock; a rotation's reads, append and projection wait are
// bounded by rotationTimeout, well within it.
const (
	rotationLockTTL = time.Minute
	rotationTimeout = 30 * time.Second
)

// RotateCreatorToken decides and records a creator's token rotation and
// returns the token's credential after it (hashes). Creators are
// aggregates of their own, appended directly like their registrations,
// so two rotations of one creator are serialised by a lock (Locks) and
// decided on the state the projection holds once it has caught up with the
// creator's partition: never two current tokens.
func (p *Principals) RotateCreatorToken(ctx context.Context, cmd catalog.RotateToken) (catalog.Credential, error) {
	return p.rotate(ctx, cmd.PrincipalID, func(ctx context.Context) ([]schemas.Event, func(schemas.Envelope, schemas.Event) catalog.Credential, error) {
		c, _, err := p.Tokens.CreatorToken(ctx, cmd.PrincipalID)
		if err != nil {
			return nil, nil, err
		}
		if c.ID != "" && c.Token.Current == "" {
			// Registered before the projection kept token hashes: the API
			// checked that the caller's token is current.
			c.Token.Current = cmd.AuthorizedBy
		}
		evs, err := catalog.DecideCreatorRotation(&c, cmd)
		return evs, func(env schemas.Envelope, ev schemas.Event) catalog.Credential {
			c.Evolve(env, ev)
			return c.Token
		}, err
	})
}

// RotateAnalystToken is RotateCreatorToken for analysts.
func (p *Principals) RotateAnalystToken(ctx context.Context, cmd catalog.RotateToken) (catalog.Credential, error) {
	return p.rotate(ctx, cmd.PrincipalID, func(ctx context.Context) ([]schemas.Event, func(schemas.Envelope, schemas.Event) catalog.Credential, error) {
		a, _, err := p.Tokens.AnalystToken(ctx, cmd.PrincipalID)
		if err != nil {
			return nil, nil, err
		}
		if a.ID != "" && a.Token.Current == "" {
			a.Token.Current = cmd.AuthorizedBy
		}
		evs, err := catalog.DecideAnalystRotation(&a, cmd)
		return evs, func(env schemas.Envelope, ev schemas.Event) catalog.Credential {
			a.Evolve(env, ev)
			return a.Token
		}, err
	})
}

// rotate runs one rotation of principal id under its lock: wait for the
// projection to hold everything in the principal's partition, decide,
// append, wait for the projection again. A refusal of the decider is
// returned as is (a *catalog.ValidationError, or wrapping ErrNotFound or
// ErrConflict); any other error means nothing was recorded.
func (p *Principals) rotate(ctx context.Context, id string,
	decide func(context.Context) ([]schemas.Event, func(schemas.Envelope, schemas.Event) catalog.Credential, error),
) (catalog.Credential, error) {
	if p.Tokens == nil {
		return catalog.Credential{}, errors.New("commands: token rotations need Principals.Tokens")
	}
	ctx, cancel := context.WithTimeout(ctx, rotationTimeout)
	defer cancel()
	if p.Locks != nil {
		unlock, ok, err := p.Locks.Lock(ctx, "rotate:"+id, rotationLockTTL)
		if err != nil {
			return catalog.Credential{}, fmt.Errorf("lock rotation of %s: %w", id, err)
		}
		if !ok {
			return catalog.Credential{}, ErrRotationInProgress
		}
		defer unlock()
	}
	n, err := p.Store.Partitions(ctx, schemas.TopicCatalog)
	if err != nil {
		return catalog.Credential{}, err
	}
	part := eventstore.PartitionOf(id, n)
	bounds, err := p.Store.Bounds(ctx, schemas.TopicCatalog)
	if err != nil {
		return catalog.Credential{}, err
	}
	for _, b := range bounds {
		if b.Partition == part {
			if err := waitProjected(ctx, p.Projected, part, b.End, p.wait()); err != nil {
				return catalog.Credential{}, fmt.Errorf("catalog projection behind: %w", err)
			}
		}
	}
	evs, evolve, err := decide(ctx)
	if err != nil {
		return catalog.Credential{}, err
	}
	envs, err := p.append(ctx, id, part, evs)
	if err != nil {
		return catalog.Credential{}, err
	}
	var cred catalog.Credential
	for i, env := range envs {
		cred = evolve(env, evs[i])
	}
	return cred, nil
}

// RedisLocks is a Locker on Redis (SET NX PX), shared by every API process
// that uses the same Redis.
type RedisLocks struct {
	Client redis.UniversalClient
	// Prefix starts every lock key.
	Prefix string
}

// unlockScript deletes a lock only if it still holds this holder's token.
var unlockScript = redis.NewScript(`if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`)

// Lock implements Locker.
func (l *RedisLocks) Lock(ctx context.Context, key string, ttl time.Duration) (func(), bool, error) {
	token := schemas.NewEventID()
	k := l.Prefix + key
	ok, err := l.Client.SetNX(ctx, k, token, ttl).Result()
	if err != nil || !ok {
		return nil, false, err
	}
	return func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = unlockScript.Run(ctx, l.Client, []string{k}, token).Err()
	}, true, nil
}
