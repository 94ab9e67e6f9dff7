package rediscatalog

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/attrib-engine/attrib/catalog"
	"github.com/attrib-engine/attrib/schemas"
)

// Hash fields of credential rotations (see the package doc's key layout).
const (
	// fToken is a creator's or analyst's registration token hash.
	fToken = "token_hash"
	// fRotationPrefix + offset: one rotation of a creator's or analyst's
	// token (on its hash) or of a brand's webhook secret (on the brand's).
	fRotationPrefix = "rot:"
	// fUntilPrefix + offset: on a principal, the end of its validity that
	// the rotation at offset set; the earliest one holds.
	fUntilPrefix = "until:"
)

// rotationRecord is one rotation: the new value, the value it replaced,
// and its effective time.
type rotationRecord struct {
	Value    string    `json:"value"`
	Previous string    `json:"previous"`
	At       time.Time `json:"at"`
}

// rotationField names the hash field of the rotation at offset; the fixed
// width makes field order offset order.
func rotationField(offset int64) string { return fRotationPrefix + fmt.Sprintf("%020d", offset) }

// writeRotation queues the commands of one rotation event, effective at
// at: the new value's principal (tokens), the end of the replaced value's
// validity (at + catalog.CredentialGrace) and of the retired one's (at),
// and the rotation record on the owner's hash. Every value derives from
// the event, so a replay writes the same.
func (p *Projection) writeRotation(ctx context.Context, pipe redis.Pipeliner, it item, at time.Time) (bool, error) {
	var (
		owner                    string // the hash that records the rotation
		principal                []string
		value, previous, retired string
		tokens                   bool
	)
	switch e := it.ev.(type) {
	case schemas.BrandAPIKeyRotated:
		principal = []string{fRole, RoleBrand, fID, e.BrandID, fName, e.Name, fBrandID, e.BrandID}
		value, previous, retired, tokens = e.APIKeyHash, e.PreviousAPIKeyHash, e.RetiredAPIKeyHash, true
	case schemas.BrandWebhookSecretRotated:
		owner = p.brandKey(e.BrandID)
		value, previous, retired = e.WebhookSecretSalt, e.PreviousWebhookSecretSalt, e.RetiredWebhookSecretSalt
	case schemas.CreatorTokenRotated:
		owner = p.creatorKey(e.CreatorID)
		principal = []string{fRole, RoleCreator, fID, e.CreatorID, fName, e.Name}
		value, previous, retired, tokens = e.TokenHash, e.PreviousTokenHash, e.RetiredTokenHash, true
	case schemas.AnalystTokenRotated:
		owner = p.analystKey(e.AnalystID)
		principal = []string{fRole, RoleAnalyst, fID, e.AnalystID, fName, e.Name}
		value, previous, retired, tokens = e.TokenHash, e.PreviousTokenHash, e.RetiredTokenHash, true
	default:
		return false, nil
	}
	if owner != "" {
		v, err := json.Marshal(rotationRecord{Value: value, Previous: previous, At: at})
		if err != nil {
			return true, fmt.Errorf("redis catalog: encode %s of event %s: %w", it.env.Type, it.env.EventID, err)
		}
		pipe.HSetNX(ctx, owner, rotationField(it.offset), string(v))
	}
	if tokens {
		key := p.principalKey(value)
		for i := 0; i+1 < len(principal); i += 2 {
			pipe.HSetNX(ctx, key, principal[i], principal[i+1])
		}
		until := fUntilPrefix + fmt.Sprintf("%020d", it.offset)
		pipe.HSetNX(ctx, p.principalKey(previous), until, fmtTime(at.Add(catalog.CredentialGrace)))
		if retired != "" {
			pipe.HSetNX(ctx, p.principalKey(retired), until, fmtTime(at))
		}
	}
	return true, nil
}

// validUntil returns the earliest end of validity among a principal's
// until fields; zero when none (valid until rotated).
func validUntil(fields map[string]string) (time.Time, error) {
	var end time.Time
	for f, v := range fields {
		if !strings.HasPrefix(f, fUntilPrefix) {
			continue
		}
		t, err := parseTime(v)
		if err != nil {
			return time.Time{}, fmt.Errorf("%s: %w", f, err)
		}
		if end.IsZero() || t.Before(end) {
			end = t
		}
	}
	return end, nil
}

// foldCredential returns the credential whose registration value is
// initial after the rotations recorded in fields: the latest rotation (by
// offset) names the current and previous values, as catalog's Credential
// folds them.
func foldCredential(initial string, fields map[string]string) (catalog.Credential, error) {
	var last string
	for f := range fields {
		if strings.HasPrefix(f, fRotationPrefix) && f > last {
			last = f
		}
	}
	c := catalog.Credential{Current: initial}
	if last == "" {
		return c, nil
	}
	var r rotationRecord
	if err := json.Unmarshal([]byte(fields[last]), &r); err != nil {
		return c, fmt.Errorf("%s: %w", last, err)
	}
	return catalog.Credential{Current: r.Value, Previous: r.Previous, PreviousValidUntil: r.At.Add(catalog.CredentialGrace), RotatedAt: r.At}, nil
}

// WebhookSecretSalts returns the salts a brand's webhook secrets derive
// from: the current one and, after a rotation, the previous one with the
// end of its grace. ok is false for an unknown brand. One round trip.
func (p *Projection) WebhookSecretSalts(ctx context.Context, brandID string) (catalog.Credential, bool, error) {
	f, err := p.client.HGetAll(ctx, p.brandKey(brandID)).Result()
	if err != nil {
		return catalog.Credential{}, false, fmt.Errorf("redis catalog: brand %s: %w", brandID, err)
	}
	if _, ok := f[fName]; !ok {
		return catalog.Credential{}, false, nil
	}
	c, err := foldCredential(f[fSalt], f)
	if err != nil {
		return catalog.Credential{}, false, fmt.Errorf("redis catalog: brand %s: %w", brandID, err)
	}
	return c, true, nil
}

// CreatorToken returns a creator's state for a token rotation
// (catalog.DecideCreatorRotation): id, name and the token's hashes. A
// creator projected before registrations kept their token hash has an
// empty Token.Current until it rotates or the projection is rebuilt. ok is
// false for an unknown creator. One round trip.
func (p *Projection) CreatorToken(ctx context.Context, id string) (catalog.Creator, bool, error) {
	f, err := p.client.HGetAll(ctx, p.creatorKey(id)).Result()
	if err != nil {
		return catalog.Creator{}, false, fmt.Errorf("redis catalog: creator %s: %w", id, err)
	}
	if _, ok := f[fName]; !ok {
		return catalog.Creator{}, false, nil
	}
	c, err := foldCredential(f[fToken], f)
	if err != nil {
		return catalog.Creator{}, false, fmt.Errorf("redis catalog: creator %s: %w", id, err)
	}
	return catalog.Creator{ID: id, Name: f[fName], Email: f[fEmail], TokenHash: c.Current, Token: c}, true, nil
}

// AnalystToken returns an analyst's state for a token rotation, as
// CreatorToken does for creators.
func (p *Projection) AnalystToken(ctx context.Context, id string) (catalog.Analyst, bool, error) {
	f, err := p.client.HGetAll(ctx, p.analystKey(id)).Result()
	if err != nil {
		return catalog.Analyst{}, false, fmt.Errorf("redis catalog: analyst %s: %w", id, err)
	}
	if _, ok := f[fName]; !ok {
		return catalog.Analyst{}, false, nil
	}
	c, err := foldCredential(f[fToken], f)
	if err != nil {
		return catalog.Analyst{}, false, fmt.Errorf("redis catalog: analyst %s: %w", id, err)
	}
	return catalog.Analyst{ID: id, Name: f[fName], TokenHash: c.Current, Token: c}, true, nil
}
