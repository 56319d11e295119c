// Package authn owns request authentication: deciding from a request's
// client certificate or bearer token which user.Info made it. It holds
// one authenticator per credential kind — x509 client certificates,
// static tokens from a --token-auth-file, bootstrap tokens kept in
// Secrets, service account JWTs, and the anonymous fallback — and the
// ways to chain them. It does not serve 401s or strip credentials from
// requests; the API server does that around it.
package authn

import (
	"errors"
	"net/http"
	"slices"

	"github.com/bosun-sh/bosun/internal/auth/user"
)

// Authenticator establishes who made a request.
//
// It returns (info, true, nil) when it recognises valid credentials;
// (nil, false, nil) when the request carries nothing it understands, so
// the next authenticator may try; and (nil, false, err) when credentials
// it understands are present but invalid (expired, revoked, forged),
// which the server answers with 401. The returned Info is the caller's
// to keep and modify.
type Authenticator interface {
	Authenticate(r *http.Request) (*user.Info, bool, error)
}

// AuthenticatorFunc adapts a function to Authenticator.
type AuthenticatorFunc func(r *http.Request) (*user.Info, bool, error)

// Authenticate calls f.
func (f AuthenticatorFunc) Authenticate(r *http.Request) (*user.Info, bool, error) { return f(r) }

// Union tries each authenticator in order and returns the first success.
// An error does not stop the search — a token that looks like a bootstrap
// token may still be a valid static token — but when nobody succeeds, the
// errors are returned together, so invalid credentials are a 401 rather
// than "no credentials".
func Union(as ...Authenticator) Authenticator {
	return AuthenticatorFunc(func(r *http.Request) (*user.Info, bool, error) {
		var errs []error
		for _, a := range as {
			info, ok, err := a.Authenticate(r)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			if ok {
				return info, true, nil
			}
		}
		return nil, false, joinErrors(errs)
	})
}

// joinErrors is errors.Join, but a lone error is returned as it is, so its
// text is not wrapped for nothing.
func joinErrors(errs []error) error {
	if len(errs) == 1 {
		return errs[0]
	}
	return errors.Join(errs...)
}

// Anonymous authenticates every request as system:anonymous in group
// system:unauthenticated. Put it behind OrAnonymous, not in a Union: in a
// Union it would also admit requests whose credentials were refused.
type Anonymous struct{}

// Authenticate always succeeds.
func (Anonymous) Authenticate(*http.Request) (*user.Info, bool, error) {
	return &user.Info{Name: user.Anonymous, Groups: []string{user.AllUnauthenticated}}, true, nil
}

// OrAnonymous returns an Authenticator that asks a, and when a has no
// opinion (no credentials at all) authenticates the request as
// Anonymous. When a refuses the credentials, so does the result: a bad
// token is a 401, never a quiet downgrade to anonymous.
func OrAnonymous(a Authenticator) Authenticator {
	return AuthenticatorFunc(func(r *http.Request) (*user.Info, bool, error) {
		info, ok, err := a.Authenticate(r)
		if err != nil || ok {
			return info, ok, err
		}
		return Anonymous{}.Authenticate(r)
	})
}

// authenticated returns groups with system:authenticated added once, in a
// new slice so a shared Info's groups are never appended to.
func authenticated(groups []string) []string {
	out := slices.Clone(groups)
	if !slices.Contains(out, user.AllAuthenticated) {
		out = append(out, user.AllAuthenticated)
	}
	return out
}
