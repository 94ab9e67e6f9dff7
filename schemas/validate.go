package schemas

import (
	"bytes"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
)

// FieldError is one bad field of a payload or an envelope.
type FieldError struct {
	// Path is a JSON Pointer (RFC 6901) to the field, e.g. "/payout/value"
	// or "/promo_codes/2"; "" is the whole document.
	Path string `json:"path"`
	// Message says what is wrong, e.g. "is required".
	Message string `json:"message"`
}

// ValidationError lists every bad field of a document, sorted by path. Callers
// find it with errors.As; the API maps it to 400 naming the first field.
type ValidationError struct {
	Fields []FieldError
}

// Error lists every bad field as "path: message", separated by "; ".
func (e *ValidationError) Error() string {
	var b strings.Builder
	b.WriteString("invalid: ")
	for i, f := range e.Fields {
		if i > 0 {
			b.WriteString("; ")
		}
		if f.Path == "" {
			b.WriteString("(document)")
		} else {
			b.WriteString(f.Path)
		}
		b.WriteString(": ")
		b.WriteString(f.Message)
	}
	return b.String()
}

// Validate checks a payload against the JSON Schema of one version (current
// or older) of an event type. A bad payload gives a *ValidationError with
// every bad field; an unknown type or version wraps ErrUnknownType or
// ErrUnknownVersion.
func Validate(eventType string, version int, payload []byte) error {
	if _, err := lookup(eventType, version); err != nil {
		return err
	}
	cs, err := schemaOf(eventType, version)
	if err != nil {
		return err
	}
	return validateAgainst(cs.schema, payload)
}

// validateAgainst validates payload against a compiled schema.
func validateAgainst(sch *jsonschema.Schema, payload []byte) error {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(payload))
	if err != nil {
		return &ValidationError{Fields: []FieldError{{Path: "", Message: "not valid JSON: " + err.Error()}}}
	}
	err = sch.Validate(doc)
	if err == nil {
		return nil
	}
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return err
	}
	var fields []FieldError
	collectFieldErrors(ve, &fields)
	sort.SliceStable(fields, func(i, j int) bool { return fields[i].Path < fields[j].Path })
	return &ValidationError{Fields: fields}
}

// collectFieldErrors flattens the validator's error tree into one FieldError
// per leaf; a missing-properties leaf becomes one FieldError per property,
// so its path names the missing field rather than its parent.
func collectFieldErrors(ve *jsonschema.ValidationError, out *[]FieldError) {
	if len(ve.Causes) > 0 {
		for _, c := range ve.Causes {
			collectFieldErrors(c, out)
		}
		return
	}
	path := jsonPointer(ve.InstanceLocation)
	switch k := ve.ErrorKind.(type) {
	case *kind.Required:
		for _, m := range k.Missing {
			*out = append(*out, FieldError{Path: path + "/" + escapePointerToken(m), Message: "is required"})
		}
		return
	case *kind.Pattern:
		if msg, ok := patternMessages[k.Want]; ok {
			*out = append(*out, FieldError{Path: path, Message: fmt.Sprintf("%s, got %q", msg, k.Got)})
			return
		}
	case *kind.MinLength:
		if k.Want == 1 {
			*out = append(*out, FieldError{Path: path, Message: "must not be empty"})
			return
		}
	case *kind.MaxLength:
		*out = append(*out, FieldError{Path: path, Message: fmt.Sprintf("must be at most %d characters, got %d", k.Want, k.Got)})
		return
	}
	// A leaf's basic output carries the validator's own message.
	msg := "is invalid"
	if u := ve.BasicOutput(); u.Error != nil {
		msg = u.Error.String()
	}
	*out = append(*out, FieldError{Path: path, Message: msg})
}

// jsonPointer joins reference tokens into a JSON Pointer.
func jsonPointer(tokens []string) string {
	var b strings.Builder
	for _, t := range tokens {
		b.WriteByte('/')
		b.WriteString(escapePointerToken(t))
	}
	return b.String()
}

// escapePointerToken escapes "~" and "/" as RFC 6901 requires.
func escapePointerToken(t string) string {
	if !strings.ContainsAny(t, "~/") {
		return t
	}
	return strings.NewReplacer("~", "~0", "/", "~1").Replace(t)
}
