package schemas

// keyed is implemented by every payload: it names the aggregate the event
// belongs to (the Kafka record key) and its brand.
type keyed interface {
	key() (aggregateKey, brandID string)
}

// KeyOf returns the aggregate key and brand id an event must be written
// with: the brand id for brand-scoped catalog events, the principal's own id
// (and no brand) for creators and analysts, OrderKey(brand, order) for order
// and attribution events. ok is false for an unregistered payload type.
func KeyOf(p Event) (aggregateKey, brandID string, ok bool) {
	k, ok := p.(keyed)
	if !ok {
		return "", "", false
	}
	aggregateKey, brandID = k.key()
	return aggregateKey, brandID, true
}

func (e BrandRegistered) key() (string, string)   { return e.BrandID, e.BrandID }
func (e CreatorRegistered) key() (string, string) { return e.CreatorID, "" }
func (e AnalystRegistered) key() (string, string) { return e.AnalystID, "" }
func (e OfferPublished) key() (string, string)    { return e.BrandID, e.BrandID }
func (e OfferChanged) key() (string, string)      { return e.BrandID, e.BrandID }
func (e CodeRequested) key() (string, string)     { return e.BrandID, e.BrandID }
func (e CodeConfirmed) key() (string, string)     { return e.BrandID, e.BrandID }
func (e CodeRejected) key() (string, string)      { return e.BrandID, e.BrandID }
func (e CodeRevoked) key() (string, string)       { return e.BrandID, e.BrandID }
func (e OrderPlaced) key() (string, string)       { return OrderKey(e.BrandID, e.OrderID), e.BrandID }
func (e OrderConfirmed) key() (string, string)    { return OrderKey(e.BrandID, e.OrderID), e.BrandID }
func (e OrderCancelled) key() (string, string)    { return OrderKey(e.BrandID, e.OrderID), e.BrandID }
func (e OrderRefunded) key() (string, string)     { return OrderKey(e.BrandID, e.OrderID), e.BrandID }
func (e OrderHoldExpired) key() (string, string)  { return OrderKey(e.BrandID, e.OrderID), e.BrandID }
func (e Attribution) key() (string, string)       { return OrderKey(e.BrandID, e.OrderID), e.BrandID }
func (e OrderUnattributed) key() (string, string) { return OrderKey(e.BrandID, e.OrderID), e.BrandID }

// normalizer is implemented by payloads with list fields: it returns a copy
// whose nil lists are empty, so that they encode as [] (the schemas require
// arrays, not null).
type normalizer interface {
	normalized() Event
}

func (e OfferPublished) normalized() Event {
	e.Countries = nonNil(e.Countries)
	e.Platforms = nonNil(e.Platforms)
	return e
}

func (e OfferChanged) normalized() Event {
	if e.Countries != nil {
		c := nonNil(*e.Countries)
		e.Countries = &c
	}
	if e.Platforms != nil {
		p := nonNil(*e.Platforms)
		e.Platforms = &p
	}
	return e
}

func (e OrderPlaced) normalized() Event {
	e.PromoCodes = nonNil(e.PromoCodes)
	return e
}

func (e OrderAttributed) normalized() Event {
	e.Decision.Candidates = nonNil(e.Decision.Candidates)
	return e
}

func (e OrderEarningsAdjusted) normalized() Event {
	e.Decision.Candidates = nonNil(e.Decision.Candidates)
	return e
}

func (e OrderUnattributed) normalized() Event {
	e.PromoCodes = nonNil(e.PromoCodes)
	e.Decision.Candidates = nonNil(e.Decision.Candidates)
	return e
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
