package authn

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	corev1listers "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
)

func newIndexer(t testing.TB, objs ...any) cache.Indexer {
	t.Helper()
	idx := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})
	for _, o := range objs {
		if err := idx.Add(o); err != nil {
			t.Fatal(err)
		}
	}
	return idx
}

func bootstrapSecret(id string, data map[string]string) *corev1.Secret {
	s := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: "kube-system", Name: "bootstrap-token-" + id},
		Type:       corev1.SecretTypeBootstrapToken,
		Data:       map[string][]byte{},
	}
	base := map[string]string{
		"token-id":                       id,
		"token-secret":                   "0123456789abcdef",
		"usage-bootstrap-authentication": "true",
		"expiration":                     "2026-01-02T00:00:00Z",
	}
	for k, v := range data {
		base[k] = v
	}
	for k, v := range base {
		if v != "" {
			s.Data[k] = []byte(v)
		}
	}
	return s
}

func TestBootstrapTokens(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	deleting := bootstrapSecret("delete", nil)
	deleting.DeletionTimestamp = &metav1.Time{Time: now}
	opaque := bootstrapSecret("opaque", nil)
	opaque.Type = corev1.SecretTypeOpaque
	b := &BootstrapTokens{
		Secrets: corev1listers.NewSecretLister(newIndexer(t,
			bootstrapSecret("abcdef", map[string]string{"auth-extra-groups": "system:bootstrappers:bosun:agents"}),
			bootstrapSecret("noexpi", map[string]string{"expiration": ""}),
			bootstrapSecret("expird", map[string]string{"expiration": "2025-12-31T23:59:59Z"}),
			bootstrapSecret("badexp", map[string]string{"expiration": "tomorrow"}),
			bootstrapSecret("nousag", map[string]string{"usage-bootstrap-authentication": "false"}),
			bootstrapSecret("badgrp", map[string]string{"auth-extra-groups": "system:masters"}),
			bootstrapSecret("wrngid", map[string]string{"token-id": "other0"}),
			deleting, opaque,
		)),
		Now: func() time.Time { return now },
	}
	cases := []struct {
		name       string
		token      string
		wantUser   string
		wantGroups []string
		wantErr    string
	}{
		{"good", "abcdef.0123456789abcdef", "system:bootstrap:abcdef", []string{"system:bootstrappers", "system:bootstrappers:bosun:agents", "system:authenticated"}, ""},
		{"no expiration", "noexpi.0123456789abcdef", "system:bootstrap:noexpi", []string{"system:bootstrappers", "system:authenticated"}, ""},
		{"wrong secret", "abcdef.0123456789abcdee", "", nil, "secret does not match"},
		{"expired", "expird.0123456789abcdef", "", nil, "expired at 2025-12-31T23:59:59Z"},
		{"unparsable expiration", "badexp.0123456789abcdef", "", nil, "expiration"},
		{"not for authentication", "nousag.0123456789abcdef", "", nil, "not marked for authentication"},
		{"group outside system:bootstrappers", "badgrp.0123456789abcdef", "", nil, `extra group "system:masters"`},
		{"token-id mismatch", "wrngid.0123456789abcdef", "", nil, "secret does not match"},
		{"no such secret", "zzzzzz.0123456789abcdef", "", nil, ""},
		{"being deleted", "delete.0123456789abcdef", "", nil, ""},
		{"not a bootstrap secret", "opaque.0123456789abcdef", "", nil, ""},
		{"other shape", "ABCDEF.0123456789abcdef", "", nil, ""},
		{"jwt", "a.b.c", "", nil, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			info, ok, err := b.AuthenticateToken(context.Background(), tc.token)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || ok {
					t.Fatalf("got %v, %v; want error %q", ok, err, tc.wantErr)
				}
				return
			}
			if err != nil || ok != (tc.wantUser != "") {
				t.Fatalf("got %+v, %v, %v", info, ok, err)
			}
			if ok && (info.Name != tc.wantUser || !slices.Equal(info.Groups, tc.wantGroups)) {
				t.Errorf("user %q groups %q", info.Name, info.Groups)
			}
		})
	}
}

func FuzzParseBootstrapToken(f *testing.F) {
	f.Add("abcdef.0123456789abcdef")
	f.Add("abcdef.0123456789abcdef\n")
	f.Fuzz(func(t *testing.T, s string) {
		id, secret, ok := ParseBootstrapToken(s)
		if ok && (len(id) != 6 || len(secret) != 16 || id+"."+secret != s) {
			t.Fatalf("%q -> %q %q", s, id, secret)
		}
	})
}
