package encryption

import (
	"bytes"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func mustKey(t testing.TB, name string) Key {
	t.Helper()
	k, err := GenerateKey(name)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func mustTransformer(t testing.TB, keys ...Key) *Transformer {
	t.Helper()
	tr, err := NewTransformer(keys)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

func TestRoundTrip(t *testing.T) {
	k1 := mustKey(t, "key1")
	tr := mustTransformer(t, k1)
	const key = "/registry/core/secrets/ns/s"
	plain := []byte(`{"data":{"password":"aHVudGVyMg=="}}`)
	sealed, err := tr.TransformToStorage(key, plain)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(sealed, []byte("k8s:enc:aesgcm:v1:key1:")) {
		t.Fatalf("sealed value starts %q", sealed[:min(len(sealed), 30)])
	}
	if bytes.Contains(sealed, plain) {
		t.Fatal("sealed value contains the plain text")
	}
	if name, ok := KeyName(sealed); !ok || name != "key1" {
		t.Fatalf("KeyName = %q, %v", name, ok)
	}
	again, _ := tr.TransformToStorage(key, plain)
	if bytes.Equal(again, sealed) {
		t.Fatal("two seals of the same value are equal: nonce not random")
	}
	got, stale, err := tr.TransformFromStorage(key, sealed)
	if err != nil || stale || !bytes.Equal(got, plain) {
		t.Fatalf("open: %q stale=%v err=%v", got, stale, err)
	}
	// Plain text from before encryption was on reads as it is, marked
	// stale so the start-up pass seals it.
	got, stale, err = tr.TransformFromStorage(key, plain)
	if err != nil || !stale || !bytes.Equal(got, plain) {
		t.Fatalf("plain: %q stale=%v err=%v", got, stale, err)
	}
}

func TestOpenErrors(t *testing.T) {
	k1, k2 := mustKey(t, "key1"), mustKey(t, "key2")
	const key = "/registry/core/secrets/ns/s"
	sealed, err := mustTransformer(t, k1).TransformToStorage(key, []byte("value"))
	if err != nil {
		t.Fatal(err)
	}
	tampered := bytes.Clone(sealed)
	tampered[len(tampered)-1] ^= 1
	wrongSecret := Key{Name: "key1", Secret: k2.Secret}
	cases := []struct {
		name    string
		keys    []Key
		storage string
		stored  []byte
		want    error
		wantMsg string
	}{
		{name: "missing key names it", keys: []Key{k2}, storage: key, stored: sealed, want: ErrUnknownKey, wantMsg: `"key1"`},
		{name: "same name, other secret", keys: []Key{wrongSecret}, storage: key, stored: sealed, want: ErrCorrupt},
		{name: "tampered", keys: []Key{k1}, storage: key, stored: tampered, want: ErrCorrupt},
		{name: "moved to another key", keys: []Key{k1}, storage: key + "2", stored: sealed, want: ErrCorrupt},
		{name: "truncated", keys: []Key{k1}, storage: key, stored: sealed[:len(Prefix)+len("key1:")+5], want: ErrCorrupt},
		{name: "no name", keys: []Key{k1}, storage: key, stored: []byte(Prefix + "abc"), want: ErrCorrupt},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := mustTransformer(t, tc.keys...).TransformFromStorage(tc.storage, tc.stored)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if !strings.Contains(err.Error(), tc.wantMsg) {
				t.Fatalf("err = %v, want it to mention %s", err, tc.wantMsg)
			}
		})
	}
}

func TestOldKeyStillOpens(t *testing.T) {
	k1, k2 := mustKey(t, "key1"), mustKey(t, "key2")
	const key = "/k"
	sealed, _ := mustTransformer(t, k1).TransformToStorage(key, []byte("v"))
	tr := mustTransformer(t, k2, k1)
	got, stale, err := tr.TransformFromStorage(key, sealed)
	if err != nil || !stale || string(got) != "v" {
		t.Fatalf("open under old key: %q stale=%v err=%v", got, stale, err)
	}
	resealed, _ := tr.TransformToStorage(key, got)
	if name, _ := KeyName(resealed); name != "key2" {
		t.Fatalf("resealed under %q, want key2", name)
	}
}

func TestParseKeys(t *testing.T) {
	good := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32))
	short := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 16))
	cases := []struct {
		name    string
		in      string
		want    []string
		wantErr string
	}{
		{name: "one", in: "key1:" + good + "\n", want: []string{"key1"}},
		{name: "order kept, comments and blanks skipped", in: "# rotated\nkey2:" + good + "\n\n  key1:" + good + "  \n", want: []string{"key2", "key1"}},
		{name: "no trailing newline", in: "a.b_c-1:" + good, want: []string{"a.b_c-1"}},
		{name: "empty", in: "", wantErr: "no keys"},
		{name: "only comments", in: "# nothing\n", wantErr: "no keys"},
		{name: "no colon", in: "key1" + good, wantErr: "line 1: want NAME:BASE64"},
		{name: "empty name", in: ":" + good, wantErr: "empty key name"},
		{name: "bad name", in: "key 1:" + good, wantErr: "only letters"},
		{name: "not base64", in: "key1:!!!!", wantErr: "not base64"},
		{name: "unpadded", in: "key1:" + strings.TrimRight(good, "="), wantErr: "not base64"},
		{name: "wrong length", in: "key1:" + short, wantErr: "16 bytes, want 32"},
		{name: "duplicate", in: "key1:" + good + "\nkey1:" + good, wantErr: "appears twice"},
		{name: "error names the line", in: "key1:" + good + "\nkey2:" + short, wantErr: "line 2"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			keys, err := ParseKeys([]byte(tc.in))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, k := range keys {
				names = append(names, k.Name)
			}
			if strings.Join(names, ",") != strings.Join(tc.want, ",") {
				t.Fatalf("names = %v, want %v", names, tc.want)
			}
		})
	}
}

func FuzzParseKeys(f *testing.F) {
	good := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32))
	f.Add([]byte("key1:" + good + "\n"))
	f.Add([]byte("# c\nkey2:" + good + "\nkey1:" + good))
	f.Add([]byte("key1:"))
	f.Add([]byte(":::\n\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		keys, err := ParseKeys(data)
		if err != nil {
			return
		}
		// Whatever parses builds a transformer and survives a write and
		// re-read unchanged.
		if _, err := NewTransformer(keys); err != nil {
			t.Fatalf("parsed keys rejected: %v", err)
		}
		again, err := ParseKeys(FormatKeys(keys))
		if err != nil || len(again) != len(keys) {
			t.Fatalf("re-parse: %d keys, %v", len(again), err)
		}
		for i := range keys {
			if again[i].Name != keys[i].Name || !bytes.Equal(again[i].Secret, keys[i].Secret) {
				t.Fatalf("key %d changed in a round trip", i)
			}
		}
	})
}

func FuzzTransformFromStorage(f *testing.F) {
	tr := mustTransformer(f, mustKey(f, "key1"), mustKey(f, "key0"))
	sealed, _ := tr.TransformToStorage("/k", []byte("v"))
	f.Add(sealed)
	f.Add([]byte(Prefix))
	f.Add([]byte(Prefix + "key1:"))
	f.Add([]byte(Prefix + "key0:0123456789ab"))
	f.Add([]byte(`{"kind":"Secret"}`))
	f.Fuzz(func(t *testing.T, stored []byte) {
		plain, _, err := tr.TransformFromStorage("/k", stored)
		if err == nil && bytes.HasPrefix(stored, []byte(Prefix)) && !bytes.Equal(plain, []byte("v")) {
			t.Fatalf("forged value opened: %q", plain)
		}
	})
}

func TestLoadOrCreateAndRotate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", DefaultKeyFile)
	keys, created, err := LoadOrCreate(path)
	if err != nil || !created || len(keys) != 1 || keys[0].Name != "key1" {
		t.Fatalf("first load: %v created=%v err=%v", keys, created, err)
	}
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode: %v %v", st, err)
	}
	again, created, err := LoadOrCreate(path)
	if err != nil || created || !bytes.Equal(again[0].Secret, keys[0].Secret) {
		t.Fatalf("second load generated a new key: created=%v err=%v", created, err)
	}

	rotated, err := Rotate(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(rotated) != 2 || rotated[0].Name != "key2" || rotated[1].Name != "key1" || !bytes.Equal(rotated[1].Secret, keys[0].Secret) {
		t.Fatalf("after rotation: %v", rotated)
	}
	onDisk, err := ReadKeyFile(path)
	if err != nil || len(onDisk) != 2 || onDisk[0].Name != "key2" {
		t.Fatalf("file after rotation: %v %v", onDisk, err)
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
		t.Fatalf("mode after rotation %v", st.Mode())
	}
	if rotated, _ := Rotate(path); rotated[0].Name != "key3" || len(rotated) != 3 {
		t.Fatalf("second rotation: %v", rotated)
	}
	fresh := filepath.Join(t.TempDir(), "new.key")
	if keys, err := Rotate(fresh); err != nil || len(keys) != 1 || keys[0].Name != "key1" {
		t.Fatalf("rotating a missing file: %v %v", keys, err)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Fatalf("temporary files left behind: %v", entries)
	}
}

func TestLoadRefusesMalformed(t *testing.T) {
	path := filepath.Join(t.TempDir(), DefaultKeyFile)
	if err := os.WriteFile(path, []byte("key1:short\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, _, err := LoadOrCreate(path)
	if err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("err = %v, want an error naming the file", err)
	}
	if data, _ := os.ReadFile(path); string(data) != "key1:short\n" {
		t.Fatal("malformed key file was overwritten")
	}
}

func BenchmarkTransform(b *testing.B) {
	tr := mustTransformer(b, mustKey(b, "key1"))
	plain := bytes.Repeat([]byte("x"), 1024)
	b.SetBytes(int64(len(plain)))
	for i := 0; i < b.N; i++ {
		sealed, err := tr.TransformToStorage("/registry/core/secrets/ns/name", plain)
		if err != nil {
			b.Fatal(err)
		}
		if _, _, err := tr.TransformFromStorage("/registry/core/secrets/ns/name", sealed); err != nil {
			b.Fatal(err)
		}
	}
}
