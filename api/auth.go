package api

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/attrib-engine/attrib/credentials"
)

// Roles of bearer tokens.
const (
	RoleAdmin   = "admin"
	RoleBrand   = "brand"
	RoleCreator = "creator"
	RoleAnalyst = "analyst"
)

// Caller is who made a request, as their bearer token says.
type Caller struct {
	Role string
	// ID is the brand, creator or analyst id; empty for the admin.
	ID   string
	Name string
	// ValidUntil is when the token stops working: zero while it is
	// current, the end of its grace once a rotation replaced it.
	ValidUntil time.Time
	// TokenHash is the hex SHA-256 of the token the request was made with.
	TokenHash string
}

// PrincipalFinder looks a principal up by the hash of their token.
type PrincipalFinder interface {
	FindPrincipal(ctx context.Context, tokenHash string) (Caller, bool, error)
}

// authenticate resolves the bearer token of r. The admin token is compared
// in constant time; every other token by its hash.
func (s *Server) authenticate(r *http.Request) (Caller, error) {
	auth := r.Header.Get("Authorization")
	token, ok := strings.CutPrefix(auth, "Bearer ")
	token = strings.TrimSpace(token)
	if !ok || token == "" {
		return Caller{}, errUnauthorized
	}
	if s.cfg.AdminToken != "" && credentials.Equal(token, s.cfg.AdminToken) {
		return Caller{Role: RoleAdmin}, nil
	}
	hash := credentials.Hash(token)
	c, found, err := s.cfg.Principals.FindPrincipal(r.Context(), hash)
	if err != nil {
		return Caller{}, unavailable("cannot check the token now (%v); retry later", err)
	}
	// A token replaced by a rotation works until the end of its grace,
	// measured by the rotation's time, not by when the projection saw it.
	if !found || (!c.ValidUntil.IsZero() && !s.cfg.Now().Before(c.ValidUntil)) {
		return Caller{}, errUnauthorized
	}
	c.TokenHash = hash
	return c, nil
}

// handler is an API handler that returns an error instead of writing it.
type handler func(w http.ResponseWriter, r *http.Request, c Caller) error

// as wraps h with authentication, the caller's rate limit (before
// anything else: a refused request does nothing) and a role check.
func (s *Server) as(h handler, roles ...string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !s.refuseDeclaredTooLarge(w, r) {
			return
		}
		c, err := s.authenticate(r)
		if err != nil {
			s.respondError(w, r, err)
			return
		}
		if err := s.limit(w, r, c); err != nil {
			s.respondError(w, r, err)
			return
		}
		allowed := false
		for _, role := range roles {
			allowed = allowed || c.Role == role
		}
		if !allowed {
			s.respondError(w, r, errForbidden)
			return
		}
		br, err := s.backdating(r, c)
		if err != nil {
			s.respondError(w, r, err)
			return
		}
		if err := h(w, br, c); err != nil {
			s.respondError(w, r, err)
		}
	}
}
