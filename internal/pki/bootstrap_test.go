package pki

import (
	"regexp"
	"strings"
	"testing"
)

func TestBootstrapToken(t *testing.T) {
	format := regexp.MustCompile(`^[a-z0-9]{6}\.[a-z0-9]{16}$`)
	a := JoinToken{Secret: strings.Repeat("0f", 24)}
	b := JoinToken{Secret: strings.Repeat("0f", 23) + "0e"}
	id, secret := a.BootstrapToken()
	if !format.MatchString(id + "." + secret) {
		t.Fatalf("bootstrap token %s.%s is not in the bootstrap token format", id, secret)
	}
	if id2, secret2 := a.BootstrapToken(); id2 != id || secret2 != secret {
		t.Error("the derivation is not deterministic")
	}
	if idB, secretB := b.BootstrapToken(); idB == id || secretB == secret {
		t.Error("join secrets one digit apart give bootstrap tokens sharing a part")
	}
	if strings.Contains(a.Secret, secret) {
		t.Error("the bootstrap secret shows the join secret")
	}
}
