package api

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/attrib-engine/attrib/catalog"
	"github.com/attrib-engine/attrib/commands"
	"github.com/attrib-engine/attrib/credentials"
)

// TokenRotator records creators' and analysts' token rotations, returning
// once they are durable, with the token's credential after the rotation
// (commands.Principals is one). A refusal is a *catalog.ValidationError,
// or wraps catalog.ErrNotFound, catalog.ErrConflict or
// commands.ErrRotationInProgress; any other error means nothing was
// recorded.
type TokenRotator interface {
	RotateCreatorToken(ctx context.Context, cmd catalog.RotateToken) (catalog.Credential, error)
	RotateAnalystToken(ctx context.Context, cmd catalog.RotateToken) (catalog.Credential, error)
}

// rotatable lists the credential kinds each role may rotate.
var rotatable = map[string][]string{
	RoleBrand:   {catalog.CredentialAPIKey, catalog.CredentialWebhookSecret},
	RoleCreator: {catalog.CredentialToken},
	RoleAnalyst: {catalog.CredentialToken},
}

// rotation is the answer of POST /v1/credentials/rotate: the new secret,
// shown once, under the field named by its kind (api_key, webhook_secret
// or token), and the end of the previous one's grace.
func rotation(kind, secret string, cred catalog.Credential) map[string]any {
	return map[string]any{
		"kind":                 kind,
		kind:                   secret,
		"previous_valid_until": cred.PreviousValidUntil.UTC().Format(time.RFC3339),
	}
}

// rotateCredential replaces the caller's API key, webhook secret or token.
// The previous value keeps working for catalog.CredentialGrace from the
// rotation; a second rotation within it ends the first one's grace at
// once (only the newest previous value is valid). A kind the caller's role
// does not have is a 400 naming kind; a call made with a value that a
// rotation already replaced (in its grace) is a 409: only the current one
// may rotate, so that a leaked old key cannot take over.
func (s *Server) rotateCredential(w http.ResponseWriter, r *http.Request, c Caller) error {
	var body struct {
		Kind string `json:"kind"`
	}
	if err := decodeBody(w, r, s.cfg.MaxBodyBytes, &body); err != nil {
		return err
	}
	kinds := rotatable[c.Role]
	if body.Kind == "" {
		return badField("kind", "kind is required: a %s rotates %s", c.Role, quoteList(kinds))
	}
	allowed := false
	for _, k := range kinds {
		allowed = allowed || k == body.Kind
	}
	if !allowed {
		return badField("kind", "kind: a %s rotates %s, not %q", c.Role, quoteList(kinds), body.Kind)
	}
	if !c.ValidUntil.IsZero() {
		return conflict("this %s was replaced by a rotation and works only until %s; rotate with the current one",
			credentialName(c.Role), c.ValidUntil.UTC().Format(time.RFC3339))
	}
	switch c.Role {
	case RoleBrand:
		var secret, value string
		if body.Kind == catalog.CredentialAPIKey {
			secret = credentials.NewToken(credentials.PrefixBrandKey)
			value = credentials.Hash(secret)
		} else {
			value = credentials.NewID("")
			secret = s.cfg.MasterKey.WebhookSecret(c.ID, value)
		}
		res, err := s.send(r.Context(), catalog.RotateCredential{BrandID: c.ID, Kind: body.Kind, NewValue: value, AuthorizedBy: c.TokenHash})
		if err != nil {
			return err
		}
		if res.Credential == nil || res.Credential.Current != value {
			return errors.New("rotation decided without the new credential in its result")
		}
		writeJSON(w, http.StatusOK, rotation(body.Kind, secret, *res.Credential))
		return nil
	default:
		if s.cfg.Rotator == nil {
			return unavailable("token rotation is not running in this process")
		}
		prefix, rotate := credentials.PrefixCreatorToken, s.cfg.Rotator.RotateCreatorToken
		if c.Role == RoleAnalyst {
			prefix, rotate = credentials.PrefixAnalystToken, s.cfg.Rotator.RotateAnalystToken
		}
		token := credentials.NewToken(prefix)
		cred, err := rotate(r.Context(), catalog.RotateToken{PrincipalID: c.ID, TokenHash: credentials.Hash(token), AuthorizedBy: c.TokenHash})
		if err != nil {
			return rotationError(err)
		}
		writeJSON(w, http.StatusOK, rotation(body.Kind, token, cred))
		return nil
	}
}

// rotationError maps a refusal or failure of a token rotation.
func rotationError(err error) error {
	var ve *catalog.ValidationError
	switch {
	case errors.As(err, &ve):
		return badField(ve.Field, "%s", ve.Error())
	case errors.Is(err, catalog.ErrNotFound):
		return notFound("%s", err.Error())
	case errors.Is(err, catalog.ErrConflict), errors.Is(err, commands.ErrRotationInProgress):
		return conflict("%s", err.Error())
	}
	return unavailable("the rotation could not be recorded (%v); nothing was recorded, retry later", err)
}

func credentialName(role string) string {
	if role == RoleBrand {
		return "API key"
	}
	return "token"
}

func quoteList(kinds []string) string {
	out := ""
	for i, k := range kinds {
		if i > 0 {
			out += " or "
		}
		out += `"` + k + `"`
	}
	return out
}
