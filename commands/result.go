package commands

import (
	"errors"

	"github.com/attrib-engine/attrib/catalog"
)

// Result is the outcome of one command: a failure, or the state of what the
// command touched after it was applied.
type Result struct {
	CommandID string   `json:"command_id"`
	Failure   *Failure `json:"failure,omitempty"`
	// Exactly one of these is set on success, by command: PublishOffer and
	// ChangeOffer give the offer; RequestCode, ConfirmCode and RejectCode
	// the request; RevokeCode the code; RotateCredential the rotated
	// credential (hashes or salts, never a secret); SetConnector the
	// connector (without its sealed secrets); RegisterBrand and
	// RemoveConnector none.
	Offer      *catalog.Offer      `json:"offer,omitempty"`
	Request    *catalog.Request    `json:"request,omitempty"`
	Code       *catalog.Code       `json:"code,omitempty"`
	Credential *catalog.Credential `json:"credential,omitempty"`
	Connector  *catalog.Connector  `json:"connector,omitempty"`
}

// Failure kinds, which the API maps to status codes.
const (
	FailInvalid  = "invalid"   // 400
	FailNotFound = "not_found" // 404
	FailConflict = "conflict"  // 409
	FailInternal = "internal"  // 500
)

// Failure is why a command was refused.
type Failure struct {
	Kind    string `json:"kind"`
	Field   string `json:"field,omitempty"`
	Message string `json:"message"`
}

// Error returns the message.
func (f *Failure) Error() string { return f.Message }

// failureOf classifies a refusal of catalog.Decide.
func failureOf(err error) *Failure {
	var ve *catalog.ValidationError
	switch {
	case errors.As(err, &ve):
		return &Failure{Kind: FailInvalid, Field: ve.Field, Message: ve.Message}
	case errors.Is(err, catalog.ErrNotFound):
		return &Failure{Kind: FailNotFound, Message: err.Error()}
	case errors.Is(err, catalog.ErrConflict):
		return &Failure{Kind: FailConflict, Message: err.Error()}
	}
	return &Failure{Kind: FailInternal, Message: err.Error()}
}

// resultOf renders what cmd touched in b, after it was applied.
func resultOf(b *catalog.Brand, cmd catalog.BrandCommand) Result {
	var r Result
	switch c := cmd.(type) {
	case catalog.PublishOffer:
		if o, ok := b.Offer(c.OfferID); ok {
			r.Offer = &o
		}
	case catalog.ChangeOffer:
		if o, ok := b.Offer(c.OfferID); ok {
			r.Offer = &o
		}
	case catalog.RequestCode:
		if q, ok := b.Request(c.RequestID); ok {
			r.Request = &q
		}
	case catalog.ConfirmCode:
		if q, ok := b.Request(c.RequestID); ok {
			r.Request = &q
		}
	case catalog.RejectCode:
		if q, ok := b.Request(c.RequestID); ok {
			r.Request = &q
		}
	case catalog.RotateCredential:
		if cr, ok := b.Credential(c.Kind); ok {
			r.Credential = &cr
		}
	case catalog.SetConnector:
		if cn, ok := b.Connector(c.Platform); ok {
			r.Connector = &cn
		}
	case catalog.RevokeCode:
		codes := b.Codes(c.Code)
		if len(codes) > 0 {
			last := codes[len(codes)-1]
			r.Code = &last
		}
	}
	return r
}
