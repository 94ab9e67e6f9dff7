package catalog

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/attrib-engine/attrib/promocode"
	"github.com/attrib-engine/attrib/schemas"
)

// CodeGenerator proposes a code text for a confirmation that names none;
// attempt counts from 0 and grows each time the proposal was taken. It
// must return texts that promocode.Validate accepts. NewCodeGenerator
// makes the real one; tests pass deterministic ones.
type CodeGenerator func(attempt int) string

// MaxCodeAttempts is how many texts Decide asks a CodeGenerator for before
// it gives up with ErrNoFreeCode.
const MaxCodeAttempts = 20

// ErrNoFreeCode is returned when a CodeGenerator proposed MaxCodeAttempts
// texts that were all already issued at the brand: a fault of the
// generator (or astronomically bad luck), not of the request.
var ErrNoFreeCode = errors.New("no free code text")

// Decide decides a brand command on the brand's state b (nil or the zero
// Brand for a brand with no events). It returns the events to append to
// the brand's stream, in order, or a refusal: a *ValidationError (the
// first bad field), or an error wrapping ErrNotFound or ErrConflict. A
// command that would change nothing (a ChangeOffer to the current values)
// returns no events and no error. gen is used only by a ConfirmCode
// without a code text and may otherwise be nil.
//
// Decide is pure: the same state, command and generator answers give the
// same result. It checks the command's fields before the state, so a bad
// field is reported even when the state would also refuse.
//
// Rules beyond the fields:
//   - every command but RegisterBrand needs the brand registered (else
//     ErrNotFound); RegisterBrand needs it not to be (else ErrConflict);
//   - an offer id is published once; changes need the offer to exist;
//   - a code is requested for an existing, active offer on a platform the
//     offer lists; a creator holds at most one live request per offer and
//     platform: while one is in moderation, or confirmed with its code not
//     revoked, another is refused with ErrConflict; after a rejection or a
//     revocation the creator may ask again;
//   - a request is decided once: confirm and reject need it in moderation;
//   - a confirmed text must not be the text of an active code of the
//     brand, compared through promocode.Normalize (case, width, Cyrillic
//     look-alikes); a revoked code's text may be issued again when the
//     brand types it, but a generated text avoids every text the brand
//     ever issued, so that orders with an old revoked code never reach a
//     new creator by chance;
//   - a code is revoked once;
//   - a credential is rotated only with the current API key, to a value
//     that is neither the current nor the previous one (see Credential);
//   - a connector set to the secret and confirm_on it has changes nothing;
//     only a connector the brand has can be removed.
func Decide(b *Brand, cmd BrandCommand, gen CodeGenerator) ([]schemas.Event, error) {
	if b == nil {
		b = &Brand{}
	}
	switch c := commandValue(cmd).(type) {
	case RegisterBrand:
		return b.decideRegister(c)
	case PublishOffer:
		return b.decidePublish(c)
	case ChangeOffer:
		return b.decideChange(c)
	case RequestCode:
		return b.decideRequest(c)
	case ConfirmCode:
		return b.decideConfirm(c, gen)
	case RejectCode:
		return b.decideReject(c)
	case RevokeCode:
		return b.decideRevoke(c)
	case RotateCredential:
		return b.decideRotate(c)
	case SetConnector:
		return b.decideSetConnector(c)
	case RemoveConnector:
		return b.decideRemoveConnector(c)
	}
	return nil, fmt.Errorf("catalog: unknown brand command %T", cmd)
}

// commandValue returns a pointer command as its value.
func commandValue(cmd BrandCommand) BrandCommand {
	switch c := cmd.(type) {
	case *RegisterBrand:
		return *c
	case *PublishOffer:
		return *c
	case *ChangeOffer:
		return *c
	case *RequestCode:
		return *c
	case *ConfirmCode:
		return *c
	case *RejectCode:
		return *c
	case *RevokeCode:
		return *c
	case *RotateCredential:
		return *c
	case *SetConnector:
		return *c
	case *RemoveConnector:
		return *c
	}
	return cmd
}

// checkBrand refuses a command for a brand that is not registered, and
// fails loudly when the caller decides one brand's command on another
// brand's state.
func (b *Brand) checkBrand(brandID string) error {
	if b.id == "" {
		return notFound("brand %q does not exist", brandID)
	}
	if b.id != brandID {
		return fmt.Errorf("catalog: command for brand %q decided on the state of brand %q", brandID, b.id)
	}
	return nil
}

func (b *Brand) decideRegister(c RegisterBrand) ([]schemas.Event, error) {
	if err := checkID("brand_id", c.BrandID); err != nil {
		return nil, err
	}
	name, err := checkName("name", c.Name)
	if err != nil {
		return nil, err
	}
	if err := checkSHA256("api_key_hash", c.APIKeyHash); err != nil {
		return nil, err
	}
	if err := checkID("webhook_secret_salt", c.WebhookSecretSalt); err != nil {
		return nil, err
	}
	if b.id != "" {
		return nil, conflict("brand %q is already registered", b.id)
	}
	return []schemas.Event{schemas.BrandRegistered{
		BrandID:           c.BrandID,
		Name:              name,
		APIKeyHash:        c.APIKeyHash,
		WebhookSecretSalt: c.WebhookSecretSalt,
	}}, nil
}

func (b *Brand) decidePublish(c PublishOffer) ([]schemas.Event, error) {
	if err := checkID("offer_id", c.OfferID); err != nil {
		return nil, err
	}
	name, err := checkName("name", c.Name)
	if err != nil {
		return nil, err
	}
	if err := checkPayout("payout", c.Payout); err != nil {
		return nil, err
	}
	if err := checkCountries("countries", c.Countries); err != nil {
		return nil, err
	}
	if err := checkPlatforms("platforms", c.Platforms); err != nil {
		return nil, err
	}
	if err := checkHoldDays("hold_days", c.HoldDays); err != nil {
		return nil, err
	}
	if err := b.checkBrand(c.BrandID); err != nil {
		return nil, err
	}
	if _, ok := b.offers[c.OfferID]; ok {
		return nil, conflict("offer %q already exists", c.OfferID)
	}
	return []schemas.Event{schemas.OfferPublished{
		OfferID:   c.OfferID,
		BrandID:   c.BrandID,
		Name:      name,
		Payout:    c.Payout,
		Countries: slices.Clone(c.Countries),
		Platforms: slices.Clone(c.Platforms),
		HoldDays:  c.HoldDays,
		Status:    schemas.OfferActive,
	}}, nil
}

func (b *Brand) decideChange(c ChangeOffer) ([]schemas.Event, error) {
	if err := checkID("offer_id", c.OfferID); err != nil {
		return nil, err
	}
	var name string
	if c.Name != nil {
		n, err := checkName("name", *c.Name)
		if err != nil {
			return nil, err
		}
		name = n
	}
	if c.Payout != nil {
		if err := checkPayout("payout", *c.Payout); err != nil {
			return nil, err
		}
	}
	if c.Countries != nil {
		if err := checkCountries("countries", c.Countries); err != nil {
			return nil, err
		}
	}
	if c.Platforms != nil {
		if err := checkPlatforms("platforms", c.Platforms); err != nil {
			return nil, err
		}
	}
	if c.HoldDays != nil {
		if err := checkHoldDays("hold_days", *c.HoldDays); err != nil {
			return nil, err
		}
	}
	if c.Status != nil {
		if err := checkStatus("status", *c.Status); err != nil {
			return nil, err
		}
	}
	if c.Name == nil && c.Payout == nil && c.Countries == nil && c.Platforms == nil && c.HoldDays == nil && c.Status == nil {
		return nil, invalid("", "nothing to change: set name, payout, countries, platforms, hold_days or status")
	}
	if err := b.checkBrand(c.BrandID); err != nil {
		return nil, err
	}
	o, ok := b.offers[c.OfferID]
	if !ok {
		return nil, notFound("offer %q does not exist", c.OfferID)
	}
	// Only the fields that differ from the current version go into the
	// event, so the history records real changes and a repeated PATCH is
	// harmless.
	cur := o.History[len(o.History)-1]
	e := schemas.OfferChanged{OfferID: c.OfferID, BrandID: c.BrandID}
	changed := false
	if c.Name != nil && name != cur.Name {
		e.Name, changed = &name, true
	}
	if c.Payout != nil && *c.Payout != cur.Payout {
		p := *c.Payout
		e.Payout, changed = &p, true
	}
	if c.Countries != nil && !slices.Equal(c.Countries, cur.Countries) {
		l := slices.Clone(c.Countries)
		e.Countries, changed = &l, true
	}
	if c.Platforms != nil && !slices.Equal(c.Platforms, cur.Platforms) {
		l := slices.Clone(c.Platforms)
		e.Platforms, changed = &l, true
	}
	if c.HoldDays != nil && *c.HoldDays != cur.HoldDays {
		d := *c.HoldDays
		e.HoldDays, changed = &d, true
	}
	if c.Status != nil && *c.Status != cur.Status {
		s := *c.Status
		e.Status, changed = &s, true
	}
	if !changed {
		return nil, nil
	}
	return []schemas.Event{e}, nil
}

func (b *Brand) decideRequest(c RequestCode) ([]schemas.Event, error) {
	if err := checkID("offer_id", c.OfferID); err != nil {
		return nil, err
	}
	if err := checkID("request_id", c.RequestID); err != nil {
		return nil, err
	}
	if err := checkID("creator_id", c.CreatorID); err != nil {
		return nil, err
	}
	if err := checkPlatform("platform", c.Platform); err != nil {
		return nil, err
	}
	if err := b.checkBrand(c.BrandID); err != nil {
		return nil, err
	}
	o, ok := b.offers[c.OfferID]
	if !ok {
		return nil, notFound("offer %q does not exist", c.OfferID)
	}
	cur := o.History[len(o.History)-1]
	if !slices.Contains(cur.Platforms, c.Platform) {
		return nil, invalid("platform", "offer %q accepts %s only", c.OfferID, strings.Join(cur.Platforms, ", "))
	}
	if cur.Status != schemas.OfferActive {
		return nil, conflict("offer %q is %s", c.OfferID, cur.Status)
	}
	if _, ok := b.requests[c.RequestID]; ok {
		return nil, conflict("request %q already exists", c.RequestID)
	}
	for _, id := range b.byCreator[c.CreatorID] {
		r := b.requests[id]
		if r.OfferID != c.OfferID || r.Platform != c.Platform {
			continue
		}
		switch {
		case r.Status == RequestModeration:
			return nil, conflict("request %q for offer %q on %s is already in moderation", r.RequestID, c.OfferID, c.Platform)
		case r.Status == RequestConfirmed && r.RevokedAt.IsZero():
			return nil, conflict("code %q for offer %q on %s is already issued", r.Code, c.OfferID, c.Platform)
		}
	}
	return []schemas.Event{schemas.CodeRequested{
		RequestID: c.RequestID,
		BrandID:   c.BrandID,
		OfferID:   c.OfferID,
		CreatorID: c.CreatorID,
		Platform:  c.Platform,
	}}, nil
}

func (b *Brand) decideConfirm(c ConfirmCode, gen CodeGenerator) ([]schemas.Event, error) {
	if err := checkID("request_id", c.RequestID); err != nil {
		return nil, err
	}
	text := promocode.Trim(c.Code)
	var normalized string
	if c.Code != "" {
		n, err := promocode.Validate(text)
		if err != nil {
			return nil, invalid("code", "%s", err)
		}
		normalized = n
	}
	r, err := b.decidable(c.BrandID, c.RequestID)
	if err != nil {
		return nil, err
	}
	if normalized != "" {
		if a, ok := b.activeCode(normalized); ok {
			return nil, conflict("code %q is taken at this brand by %q", text, a.Code)
		}
	} else {
		text, normalized, err = b.generate(gen)
		if err != nil {
			return nil, err
		}
	}
	return []schemas.Event{schemas.CodeConfirmed{
		RequestID:      r.RequestID,
		BrandID:        r.BrandID,
		OfferID:        r.OfferID,
		CreatorID:      r.CreatorID,
		Platform:       r.Platform,
		Code:           text,
		NormalizedCode: normalized,
	}}, nil
}

// generate asks gen for a text never issued at the brand.
func (b *Brand) generate(gen CodeGenerator) (text, normalized string, err error) {
	if gen == nil {
		return "", "", errors.New("catalog: confirm without a code text needs a code generator")
	}
	for attempt := range MaxCodeAttempts {
		text = gen(attempt)
		n, err := promocode.Validate(text)
		if err != nil {
			return "", "", fmt.Errorf("catalog: generated code %q: %w", text, err)
		}
		if _, used := b.codes[n]; !used {
			return text, n, nil
		}
	}
	return "", "", fmt.Errorf("%w at brand %q after %d attempts", ErrNoFreeCode, b.id, MaxCodeAttempts)
}

// decidable returns the request, which must be in moderation.
func (b *Brand) decidable(brandID, requestID string) (*Request, error) {
	if err := b.checkBrand(brandID); err != nil {
		return nil, err
	}
	r, ok := b.requests[requestID]
	if !ok {
		return nil, notFound("request %q does not exist", requestID)
	}
	if r.Status != RequestModeration {
		return nil, conflict("request %q is %s, not in moderation", requestID, r.Status)
	}
	return r, nil
}

func (b *Brand) decideReject(c RejectCode) ([]schemas.Event, error) {
	if err := checkID("request_id", c.RequestID); err != nil {
		return nil, err
	}
	reason, err := checkReason("reason", c.Reason)
	if err != nil {
		return nil, err
	}
	r, err := b.decidable(c.BrandID, c.RequestID)
	if err != nil {
		return nil, err
	}
	return []schemas.Event{schemas.CodeRejected{
		RequestID: r.RequestID,
		BrandID:   r.BrandID,
		OfferID:   r.OfferID,
		CreatorID: r.CreatorID,
		Reason:    reason,
	}}, nil
}

func (b *Brand) decideRevoke(c RevokeCode) ([]schemas.Event, error) {
	normalized := promocode.Normalize(c.Code)
	if normalized == "" {
		return nil, invalid("code", "must not be empty")
	}
	if err := b.checkBrand(c.BrandID); err != nil {
		return nil, err
	}
	ids := b.codes[normalized]
	if len(ids) == 0 {
		return nil, notFound("code %q does not exist at this brand", promocode.Trim(c.Code))
	}
	r := b.requests[ids[len(ids)-1]]
	if !r.RevokedAt.IsZero() {
		return nil, conflict("code %q is already revoked", r.Code)
	}
	return []schemas.Event{schemas.CodeRevoked{
		BrandID:        r.BrandID,
		RequestID:      r.RequestID,
		Code:           r.Code,
		NormalizedCode: r.NormalizedCode,
	}}, nil
}
