package rediscatalog

import (
	"cmp"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/attrib-engine/attrib/catalog"
	"github.com/attrib-engine/attrib/schemas"
)

// OfferVersion is an offer's name, terms and status from EffectiveFrom on,
// until the next version's EffectiveFrom: the catalog's own type, folded by
// the catalog's own rule (catalog.WithChange).
type OfferVersion = catalog.OfferVersion

// OfferView is an offer as the API shows it: its current version, and
// every version, oldest first.
type OfferView struct {
	OfferID   string
	BrandID   string
	BrandName string
	// Name, Payout, Countries, Platforms, HoldDays and Status are the
	// current version's.
	Name      string
	Payout    schemas.Payout
	Countries []string
	Platforms []string
	HoldDays  int
	Status    string
	// PublishedAt is when the offer was published; UpdatedAt is when its
	// current version took effect (PublishedAt if it never changed).
	PublishedAt time.Time
	UpdatedAt   time.Time
	// History holds every version, oldest first; never empty.
	History []OfferVersion
}

// foldOffer folds an offer's hash as catalog.Brand.Evolve folds its
// events: the publication, then each offer.changed after it in log order,
// skipping one whose event id made a version already (a retried append)
// and one that changes nothing. ok is false when the offer was not
// published.
func foldOffer(brandID, offerID string, fields map[string]string) (OfferView, bool, error) {
	raw, ok := fields[fPublished]
	if !ok {
		return OfferView{}, false, nil
	}
	var pub publishedRecord
	if err := json.Unmarshal([]byte(raw), &pub); err != nil {
		return OfferView{}, false, fmt.Errorf("redis catalog: offer %s/%s: published: %w", brandID, offerID, err)
	}
	type change struct {
		offset int64
		rec    changeRecord
	}
	var changes []change
	for f, v := range fields {
		o, ok := strings.CutPrefix(f, fChangePrefix)
		if !ok {
			continue
		}
		off, err := parseOffset(o)
		if err != nil {
			return OfferView{}, false, fmt.Errorf("redis catalog: offer %s/%s: field %q: %w", brandID, offerID, f, err)
		}
		if off <= pub.Offset {
			continue // a change before the publication changes nothing
		}
		c := change{offset: off}
		if err := json.Unmarshal([]byte(v), &c.rec); err != nil {
			return OfferView{}, false, fmt.Errorf("redis catalog: offer %s/%s: field %q: %w", brandID, offerID, f, err)
		}
		changes = append(changes, c)
	}
	slices.SortFunc(changes, func(a, b change) int { return cmp.Compare(a.offset, b.offset) })

	history := []OfferVersion{{
		EffectiveFrom: pub.At, Name: pub.Name, Payout: pub.Payout, Countries: pub.Countries,
		Platforms: pub.Platforms, HoldDays: pub.HoldDays, Status: pub.Status,
	}}
	made := []string{pub.EventID}
	for _, c := range changes {
		if slices.Contains(made, c.rec.EventID) {
			continue
		}
		cur := history[len(history)-1]
		next := catalog.WithChange(cur, c.rec.Change)
		if catalog.SameTerms(cur, next) {
			continue
		}
		next.EffectiveFrom = c.rec.At
		history = append(history, next)
		made = append(made, c.rec.EventID)
	}
	cur := history[len(history)-1]
	return OfferView{
		OfferID: offerID, BrandID: brandID, Name: cur.Name, Payout: cur.Payout,
		Countries: slices.Clone(cur.Countries), Platforms: slices.Clone(cur.Platforms),
		HoldDays: cur.HoldDays, Status: cur.Status,
		PublishedAt: pub.At, UpdatedAt: cur.EffectiveFrom, History: history,
	}, true, nil
}

// RequestView is a code request as the API shows it.
type RequestView struct {
	RequestID string
	BrandID   string
	BrandName string
	OfferID   string
	// OfferName is the offer's current name.
	OfferName string
	CreatorID string
	Platform  string
	// Status is catalog.RequestModeration, catalog.RequestConfirmed or
	// catalog.RequestRejected.
	Status string
	// Code and NormalizedCode are the issued code of a confirmed request.
	Code           string
	NormalizedCode string
	// Reason is the rejection reason.
	Reason      string
	RequestedAt time.Time
	// DecidedAt is when the brand confirmed or rejected; zero in
	// moderation. The API hides decided requests after
	// catalog.RequestListWindow.
	DecidedAt time.Time
	// RevokedAt is when the code was revoked; zero while it is not.
	RevokedAt time.Time
}

// parseRequest reads a request's hash; ok is false when the request was
// never made.
func parseRequest(id string, fields map[string]string) (RequestView, bool, error) {
	raw, ok := fields[fRequested]
	if !ok {
		return RequestView{}, false, nil
	}
	var req requestedRecord
	if err := json.Unmarshal([]byte(raw), &req); err != nil {
		return RequestView{}, false, fmt.Errorf("redis catalog: request %s: %w", id, err)
	}
	r := RequestView{
		RequestID: id, BrandID: req.BrandID, OfferID: req.OfferID, CreatorID: req.CreatorID,
		Platform: req.Platform, Status: catalog.RequestModeration, RequestedAt: req.At,
	}
	if raw, ok := fields[fDecision]; ok {
		var d decisionRecord
		if err := json.Unmarshal([]byte(raw), &d); err != nil {
			return RequestView{}, false, fmt.Errorf("redis catalog: request %s: decision: %w", id, err)
		}
		r.Status, r.DecidedAt, r.Code, r.NormalizedCode, r.Reason = d.Status, d.At, d.Code, d.NormalizedCode, d.Reason
	}
	if raw, ok := fields[fRevokedAt]; ok && r.Status == catalog.RequestConfirmed {
		t, err := parseTime(raw)
		if err != nil {
			return RequestView{}, false, fmt.Errorf("redis catalog: request %s: revoked_at: %w", id, err)
		}
		r.RevokedAt = t
	}
	return r, true, nil
}
