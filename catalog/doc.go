// Package catalog is the pure decision core of the catalog and of the
// promo-code lifecycle: who is registered, which offers a brand publishes
// and on what terms, which codes creators asked for and which the brand
// issued, rejected or revoked.
//
// It follows the decider pattern. Three kinds of aggregate decide commands:
//
//   - Brand (keyed by brand id) holds everything that must be consistent
//     per brand: the brand, its offers with their full terms history, its
//     code requests and its codes. Code requests are events of the brand's
//     stream, so "no two active codes of a brand share a normalised text"
//     and "a request is decided once" are decided inside one aggregate,
//     whose events the log totally orders. Decide decides its commands.
//   - Creator and Analyst (keyed by their own ids) only register; their
//     deciders are DecideCreator and DecideAnalyst.
//
// Deciders are pure and deterministic: they read the state and the command
// and return the events to append, or a refusal (a *ValidationError, or an
// error wrapping ErrNotFound or ErrConflict). Ids and secret hashes come in
// the command, made by the caller; a generated code text comes from the
// CodeGenerator the caller passes. No decision here depends on the wall
// clock, so Decide takes no time: the caller stamps the events it appends
// with the time it appends them, and that occurred_at is when each change
// takes effect.
//
// State is built only by Evolve, from the events of the log, so replaying
// an aggregate's stream rebuilds it exactly. Evolve is idempotent: a
// redelivered event changes nothing (see Brand.Evolve).
//
// Effective times are the events' occurred_at made monotonic per brand: an
// event stamped earlier than the one before it in the brand's stream (two
// writer processes whose clocks disagree, one after the other) takes effect
// at its predecessor's time. So the log order and the time order of a
// brand never disagree, and no two active codes share a text at any
// instant, whatever the clocks did.
//
// The single writer per brand is the caller's: the commands of one brand
// must be decided one at a time on the state that includes every earlier
// event of the brand (as the per-brand partition's writer does), so of two
// racing confirms of one text the first wins and the second gets
// ErrConflict.
package catalog
