// Package user owns the identity an authenticated request carries — name,
// UID, groups, extra attributes — and the well-known user and group names
// Kubernetes gives system identities, including the service account form
// system:serviceaccount:NAMESPACE:NAME.
package user

import (
	"errors"
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
)

// Info is who made a request, as authentication established it.
type Info struct {
	Name   string
	UID    string
	Groups []string
	// Extra carries authenticator-specific attributes (scopes, the pod a
	// token is bound to); authorizers may read them, never write.
	Extra map[string][]string
}

// Well-known users and groups.
const (
	// SystemPrivilegedGroup is allowed everything by the Privileged
	// authorizer, whatever RBAC says.
	SystemPrivilegedGroup = "system:masters"
	AllAuthenticated      = "system:authenticated"
	AllUnauthenticated    = "system:unauthenticated"
	Anonymous             = "system:anonymous"
	NodesGroup            = "system:nodes"
	// NodeUserPrefix starts the name of an agent's identity, followed by the node name.
	NodeUserPrefix        = "system:node:"
	ServiceAccountsGroup  = "system:serviceaccounts"
	ServiceAccountPrefix  = "system:serviceaccount:"
	serviceAccountsGroupP = ServiceAccountsGroup + ":"
)

// ErrNotServiceAccount is returned by ParseServiceAccountUsername for a
// name that is not a well-formed service account user name.
var ErrNotServiceAccount = errors.New("not a service account user name")

// ServiceAccountUsername is the user name a token of service account
// namespace/name authenticates as.
func ServiceAccountUsername(namespace, name string) string {
	return ServiceAccountPrefix + namespace + ":" + name
}

// ServiceAccountGroups is the groups every service account of namespace
// belongs to: all service accounts, and those of its namespace.
func ServiceAccountGroups(namespace string) []string {
	return []string{ServiceAccountsGroup, serviceAccountsGroupP + namespace}
}

// ParseServiceAccountUsername splits system:serviceaccount:NS:NAME into
// its namespace and name. Both must be valid object names (a DNS label and
// a DNS subdomain), so a user name with extra colons is not mistaken for
// an account.
func ParseServiceAccountUsername(username string) (namespace, name string, err error) {
	rest, ok := strings.CutPrefix(username, ServiceAccountPrefix)
	if !ok {
		return "", "", fmt.Errorf("%q: %w", username, ErrNotServiceAccount)
	}
	namespace, name, ok = strings.Cut(rest, ":")
	if !ok || strings.Contains(name, ":") {
		return "", "", fmt.Errorf("%q: want %sNAMESPACE:NAME: %w", username, ServiceAccountPrefix, ErrNotServiceAccount)
	}
	if errs := validation.IsDNS1123Label(namespace); len(errs) > 0 {
		return "", "", fmt.Errorf("%q: namespace %q: %s: %w", username, namespace, strings.Join(errs, "; "), ErrNotServiceAccount)
	}
	if errs := validation.IsDNS1123Subdomain(name); len(errs) > 0 {
		return "", "", fmt.Errorf("%q: name %q: %s: %w", username, name, strings.Join(errs, "; "), ErrNotServiceAccount)
	}
	return namespace, name, nil
}
