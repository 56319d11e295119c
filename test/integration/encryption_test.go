package integration

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bosun-sh/bosun/internal/encryption"
	"github.com/bosun-sh/bosun/internal/server"
	"github.com/bosun-sh/bosun/internal/storage"
	"github.com/bosun-sh/bosun/internal/testserver"
)

// filesContaining lists the files under dir that hold needle.
func filesContaining(t *testing.T, dir string, needle []byte) []string {
	t.Helper()
	var hits []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if bytes.Contains(data, needle) {
			hits = append(hits, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return hits
}

// storedSecret reads a Secret's bytes as etcd holds them, from the data
// dir of a stopped server.
func storedSecret(t *testing.T, dataDir, ns, name string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	e, err := storage.StartEmbedded(ctx, filepath.Join(dataDir, "etcd"))
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	resp, err := e.Client.Get(ctx, "/registry/core/secrets/"+ns+"/"+name)
	if err != nil || len(resp.Kvs) != 1 {
		t.Fatalf("reading the stored secret: %v", err)
	}
	return resp.Kvs[0].Value
}

func TestSecretsEncryptedAtRest(t *testing.T) {
	ctx := testContext(t)
	s := testserver.Start(t, testserver.Options{})
	dir := s.DataDir
	ns := newNamespace(t, s)
	secretValue := fmt.Sprintf("secret-value-%d", time.Now().UnixNano())
	configValue := fmt.Sprintf("config-value-%d", time.Now().UnixNano())
	if _, err := s.Client.CoreV1().Secrets(ns).Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "s"},
		StringData: map[string]string{"password": secretValue},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Client.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "c"},
		Data:       map[string]string{"setting": configValue},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	got, err := s.Client.CoreV1().Secrets(ns).Get(ctx, "s", metav1.GetOptions{})
	if err != nil || string(got.Data["password"]) != secretValue {
		t.Fatalf("secret reads back %q, %v", got.Data["password"], err)
	}
	s.Stop(t)

	keyFile := filepath.Join(dir, encryption.DefaultKeyFile)
	if st, err := os.Stat(keyFile); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v", st, err)
	}
	// The value goes over the wire base64-encoded in JSON, but is stored
	// as the API server encodes it; look for both forms.
	for _, needle := range [][]byte{[]byte(secretValue), []byte(base64.StdEncoding.EncodeToString([]byte(secretValue)))} {
		if hits := filesContaining(t, dir, needle); len(hits) > 0 {
			t.Fatalf("secret value %q in plain text in %v", needle, hits)
		}
	}
	if hits := filesContaining(t, filepath.Join(dir, "etcd"), []byte(configValue)); len(hits) == 0 {
		t.Fatal("the ConfigMap value is in no file: the scan does not see etcd's files")
	}
	if name, ok := encryption.KeyName(storedSecret(t, dir, ns, "s")); !ok || name != "key1" {
		t.Fatalf("stored secret under %q (encrypted %v), want key1", name, ok)
	}

	// Rotate and restart: the start-up pass moves the Secret to the new
	// key, and it still reads back.
	keys, err := encryption.Rotate(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	s2 := testserver.Start(t, testserver.Options{DataDir: dir})
	got, err = s2.Client.CoreV1().Secrets(ns).Get(ctx, "s", metav1.GetOptions{})
	if err != nil || string(got.Data["password"]) != secretValue {
		t.Fatalf("after rotation the secret reads %q, %v", got.Data["password"], err)
	}
	s2.Stop(t)
	if name, _ := encryption.KeyName(storedSecret(t, dir, ns, "s")); name != keys[0].Name {
		t.Fatalf("after rotation the secret is under %q, want %q", name, keys[0].Name)
	}

	// With the old key gone from the file the server still starts: nothing
	// names it any more.
	if err := os.WriteFile(keyFile, encryption.FormatKeys(keys[:1]), 0o600); err != nil {
		t.Fatal(err)
	}
	s3 := testserver.Start(t, testserver.Options{DataDir: dir})
	if _, err := s3.Client.CoreV1().Secrets(ns).Get(ctx, "s", metav1.GetOptions{}); err != nil {
		t.Fatalf("after dropping the old key: %v", err)
	}
	s3.Stop(t)

	// A key file without the key the Secrets are under refuses to start
	// and names the missing key.
	other := filepath.Join(t.TempDir(), "other.key")
	k, _ := encryption.GenerateKey("elsewhere")
	if err := os.WriteFile(other, encryption.FormatKeys([]encryption.Key{k}), 0o600); err != nil {
		t.Fatal(err)
	}
	err = runServer(t, dir, other)
	if !errors.Is(err, encryption.ErrUnknownKey) || !strings.Contains(err.Error(), `"`+keys[0].Name+`"`) {
		t.Fatalf("start with the wrong key file: %v, want an error naming %q", err, keys[0].Name)
	}
	// A malformed key file or a missing one named by the flag refuses too.
	bad := filepath.Join(t.TempDir(), "bad.key")
	if err := os.WriteFile(bad, []byte("key1:c2hvcnQ=\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for file, want := range map[string]string{bad: "want 32", filepath.Join(t.TempDir(), "missing.key"): "secrets-encrypt rotate"} {
		if err := runServer(t, dir, file); err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("start with key file %s: %v, want %q", file, err, want)
		}
	}
}

// runServer starts a server that is expected to fail before it is ready,
// and returns its error.
func runServer(t *testing.T, dataDir, keyFile string) error {
	t.Helper()
	cfg := server.Defaults()
	cfg.DataDir = dataDir
	cfg.BindAddress = "127.0.0.1"
	cfg.Port = 0
	cfg.DisableAgent = true
	cfg.DisableControllers = true
	cfg.SecretsEncryptionKeyFile = keyFile
	cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	ready := make(chan struct{})
	cfg.Ready = ready
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- server.Run(ctx, cfg) }()
	select {
	case err := <-done:
		return err
	case <-ready:
		cancel()
		<-done
		t.Fatalf("server with key file %s started", keyFile)
		return nil
	}
}
