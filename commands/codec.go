// Package commands carries brand-scoped catalog commands from the API to the
// single writer that decides them, and the outcome back.
//
// Every command that must see a brand's whole state to be decided (publish
// or change an offer, request, confirm, reject or revoke a code, register a
// brand, rotate its credentials) is appended to the commands topic, keyed by brand. The commands
// topic has as many partitions as the catalog topic, so one brand's commands
// and events share a partition index. The Processor that owns commands
// partition p in its consumer group is the only writer of the brand events
// in catalog partition p: it rebuilds those brands from the log when it gets
// the partition, decides each command with catalog.Decide, appends the
// events, waits until the Redis projection has them (read-your-writes), and
// answers the caller through a reply queue. Two confirms racing for one code
// text at a brand are thus decided one after the other: exactly one wins.
package commands

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/attrib-engine/attrib/catalog"
	"github.com/attrib-engine/attrib/schemas"
)

// Topic is the commands topic. Commands are requests, not facts: they may
// expire (7 days of retention); the catalog topic holds what was decided.
const Topic = "attrib.commands"

// Group is the processors' consumer group. Renaming it would re-decide every
// retained command; the processor recognises commands it already applied
// (their events carry the command id as causation id), so that is harmless.
const Group = "attrib-commands"

// Command type names on the commands topic.
const (
	typeRegisterBrand = "command.register_brand"
	typePublishOffer  = "command.publish_offer"
	typeChangeOffer   = "command.change_offer"
	typeRequestCode   = "command.request_code"
	typeConfirmCode   = "command.confirm_code"
	typeRejectCode    = "command.reject_code"
	typeRevokeCode    = "command.revoke_code"
	// typeRotateCredential is a brand's API key or webhook secret rotation.
	typeRotateCredential = "command.rotate_credential"
	// typeSetConnector and typeRemoveConnector set and remove a brand's
	// shop connector.
	typeSetConnector    = "command.set_connector"
	typeRemoveConnector = "command.remove_connector"
)

func typeOf(cmd catalog.BrandCommand) (string, error) {
	switch cmd.(type) {
	case catalog.RegisterBrand:
		return typeRegisterBrand, nil
	case catalog.PublishOffer:
		return typePublishOffer, nil
	case catalog.ChangeOffer:
		return typeChangeOffer, nil
	case catalog.RequestCode:
		return typeRequestCode, nil
	case catalog.ConfirmCode:
		return typeConfirmCode, nil
	case catalog.RejectCode:
		return typeRejectCode, nil
	case catalog.RevokeCode:
		return typeRevokeCode, nil
	case catalog.RotateCredential:
		return typeRotateCredential, nil
	case catalog.SetConnector:
		return typeSetConnector, nil
	case catalog.RemoveConnector:
		return typeRemoveConnector, nil
	}
	return "", fmt.Errorf("command %T cannot be sent", cmd)
}

// Encode wraps cmd in an envelope for the commands topic, with id as its
// event id (the command id the reply is addressed to).
func Encode(cmd catalog.BrandCommand, id, correlationID string, now time.Time) (schemas.Envelope, error) {
	t, err := typeOf(cmd)
	if err != nil {
		return schemas.Envelope{}, err
	}
	payload, err := json.Marshal(cmd)
	if err != nil {
		return schemas.Envelope{}, fmt.Errorf("encode %s: %w", t, err)
	}
	return schemas.Envelope{
		EventID:       id,
		Type:          t,
		SchemaVersion: 1,
		AggregateKey:  cmd.AggregateKey(),
		BrandID:       cmd.AggregateKey(),
		OccurredAt:    now.UTC(),
		RecordedAt:    now.UTC(),
		CorrelationID: correlationID,
		Payload:       payload,
	}, nil
}

// Decode reads a command back from its envelope.
func Decode(env schemas.Envelope) (catalog.BrandCommand, error) {
	var cmd catalog.BrandCommand
	var err error
	switch env.Type {
	case typeRegisterBrand:
		cmd, err = decodeAs[catalog.RegisterBrand](env.Payload)
	case typePublishOffer:
		cmd, err = decodeAs[catalog.PublishOffer](env.Payload)
	case typeChangeOffer:
		cmd, err = decodeAs[catalog.ChangeOffer](env.Payload)
	case typeRequestCode:
		cmd, err = decodeAs[catalog.RequestCode](env.Payload)
	case typeConfirmCode:
		cmd, err = decodeAs[catalog.ConfirmCode](env.Payload)
	case typeRejectCode:
		cmd, err = decodeAs[catalog.RejectCode](env.Payload)
	case typeRevokeCode:
		cmd, err = decodeAs[catalog.RevokeCode](env.Payload)
	case typeRotateCredential:
		cmd, err = decodeAs[catalog.RotateCredential](env.Payload)
	case typeSetConnector:
		cmd, err = decodeAs[catalog.SetConnector](env.Payload)
	case typeRemoveConnector:
		cmd, err = decodeAs[catalog.RemoveConnector](env.Payload)
	default:
		return nil, fmt.Errorf("unknown command type %q", env.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("decode %s: %w", env.Type, err)
	}
	if cmd.AggregateKey() != env.AggregateKey {
		return nil, fmt.Errorf("%s for brand %q keyed %q", env.Type, cmd.AggregateKey(), env.AggregateKey)
	}
	return cmd, nil
}

func decodeAs[T catalog.BrandCommand](payload []byte) (catalog.BrandCommand, error) {
	var v T
	if err := json.Unmarshal(payload, &v); err != nil {
		return nil, err
	}
	return v, nil
}
