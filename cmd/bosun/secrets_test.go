package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bosun-sh/bosun/internal/encryption"
)

func TestSecretsEncryptRotateAndStatus(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, encryption.DefaultKeyFile)
	if _, _, err := encryption.LoadOrCreate(path); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		args []string
		want []string
	}{
		{name: "rotate by data dir", args: []string{"secrets-encrypt", "rotate", "--data-dir", dir}, want: []string{"added key key2", "kept 1 older key", "restart the server"}},
		{name: "rotate by key file", args: []string{"secrets-encrypt", "rotate", "--secrets-encryption-key-file", path}, want: []string{"added key key3", "kept 2 older key"}},
		{name: "status", args: []string{"secrets-encrypt", "status", "--data-dir", dir}, want: []string{path, "key3\tencrypts new writes", "key2\tdecrypts", "key1\tdecrypts"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			if err := Run(context.Background(), tc.args, &out, &out); err != nil {
				t.Fatalf("%v: %v\n%s", tc.args, err, out.String())
			}
			for _, w := range tc.want {
				if !strings.Contains(out.String(), w) {
					t.Fatalf("output lacks %q:\n%s", w, out.String())
				}
			}
		})
	}
	var out bytes.Buffer
	if err := Run(context.Background(), []string{"secrets-encrypt", "status", "--data-dir", t.TempDir()}, &out, &out); err == nil {
		t.Fatal("status without a key file succeeded")
	}
}
