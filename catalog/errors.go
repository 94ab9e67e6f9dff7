package catalog

import (
	"errors"
	"fmt"
)

// ValidationError refuses a command for one bad field; the API answers 400
// naming Field.
type ValidationError struct {
	// Field is the offending field as the API names it, e.g. "payout.value"
	// or "countries[1]"; empty when the command as a whole is wrong (a
	// ChangeOffer that sets nothing).
	Field string
	// Message says what is wrong with it.
	Message string
}

// Error returns "field: message", or the message alone when the fault is
// not one field's.
func (e *ValidationError) Error() string {
	if e.Field == "" {
		return e.Message
	}
	return e.Field + ": " + e.Message
}

// ErrNotFound is wrapped by refusals naming something that does not exist:
// an unknown brand, offer, request or code. The API answers 404.
var ErrNotFound = errors.New("not found")

// ErrConflict is wrapped by refusals that the state forbids: a brand
// registered twice, an offer published twice, a code text taken by an
// active code of the brand, a request not in moderation, a request for a
// paused offer or one the creator already holds, a code already revoked.
// The API answers 409.
var ErrConflict = errors.New("conflict")

// refusal is an error whose message is meant for the caller and that wraps
// one of the sentinel errors, so errors.Is finds the kind while Error
// stays free of the "conflict: " prefix.
type refusal struct {
	kind error
	msg  string
}

func (r *refusal) Error() string { return r.msg }
func (r *refusal) Unwrap() error { return r.kind }

func notFound(format string, args ...any) error {
	return &refusal{kind: ErrNotFound, msg: fmt.Sprintf(format, args...)}
}

func conflict(format string, args ...any) error {
	return &refusal{kind: ErrConflict, msg: fmt.Sprintf(format, args...)}
}

func invalid(field, format string, args ...any) error {
	return &ValidationError{Field: field, Message: fmt.Sprintf(format, args...)}
}
