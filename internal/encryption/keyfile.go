package encryption

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// DefaultKeyFile is the key file's name inside the data directory.
const DefaultKeyFile = "secrets-encryption.key"

// ParseKeys reads a key file: one key a line, "NAME:BASE64", the base64
// (standard, padded) of 32 bytes. Blank lines and lines starting with '#'
// are skipped. The first key encrypts; the file must hold at least one.
func ParseKeys(data []byte) ([]Key, error) {
	var keys []Key
	for i, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, b64, ok := strings.Cut(line, ":")
		if !ok {
			return nil, fmt.Errorf("line %d: want NAME:BASE64", i+1)
		}
		if err := validName(name); err != nil {
			return nil, fmt.Errorf("line %d: %w", i+1, err)
		}
		secret, err := base64.StdEncoding.Strict().DecodeString(b64)
		if err != nil {
			return nil, fmt.Errorf("line %d: key %q: not base64: %w", i+1, name, err)
		}
		if len(secret) != KeySize {
			return nil, fmt.Errorf("line %d: key %q is %d bytes, want %d (AES-256)", i+1, name, len(secret), KeySize)
		}
		keys = append(keys, Key{Name: name, Secret: secret})
	}
	if err := validateKeys(keys); err != nil {
		return nil, err
	}
	return keys, nil
}

// FormatKeys writes keys in the format ParseKeys reads.
func FormatKeys(keys []Key) []byte {
	var b bytes.Buffer
	for _, k := range keys {
		b.WriteString(k.Name)
		b.WriteByte(':')
		b.WriteString(base64.StdEncoding.EncodeToString(k.Secret))
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// validName accepts what fits in a stored value's prefix and a key file
// line: letters, digits, '-', '_' and '.'.
func validName(name string) error {
	if name == "" {
		return errors.New("empty key name")
	}
	if len(name) > 64 {
		return fmt.Errorf("key name %.20q...: longer than 64 characters", name)
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return fmt.Errorf("key name %q: only letters, digits, '-', '_' and '.' are allowed", name)
		}
	}
	return nil
}

func validateKeys(keys []Key) error {
	if len(keys) == 0 {
		return errors.New("no keys")
	}
	seen := make(map[string]bool, len(keys))
	for _, k := range keys {
		if err := validName(k.Name); err != nil {
			return err
		}
		if len(k.Secret) != KeySize {
			return fmt.Errorf("key %q is %d bytes, want %d (AES-256)", k.Name, len(k.Secret), KeySize)
		}
		if seen[k.Name] {
			return fmt.Errorf("key name %q appears twice", k.Name)
		}
		seen[k.Name] = true
	}
	return nil
}

// GenerateKey returns a new random key called name.
func GenerateKey(name string) (Key, error) {
	if err := validName(name); err != nil {
		return Key{}, err
	}
	k := Key{Name: name, Secret: make([]byte, KeySize)}
	if _, err := rand.Read(k.Secret); err != nil {
		return Key{}, fmt.Errorf("generate key: %w", err)
	}
	return k, nil
}

// ReadKeyFile reads and parses the key file at path.
func ReadKeyFile(path string) ([]Key, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("secrets encryption key file: %w", err)
	}
	keys, err := ParseKeys(data)
	if err != nil {
		return nil, fmt.Errorf("secrets encryption key file %s: %w", path, err)
	}
	return keys, nil
}

// LoadOrCreate reads the key file at path, first writing one with a
// single new key if there is none. created says whether it did.
func LoadOrCreate(path string) (keys []Key, created bool, err error) {
	keys, err = ReadKeyFile(path)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return keys, false, err
	}
	k, err := GenerateKey("key1")
	if err != nil {
		return nil, false, err
	}
	keys = []Key{k}
	if err := writeKeyFile(path, keys); err != nil {
		return nil, false, err
	}
	return keys, true, nil
}

// Rotate puts a new key first in the key file at path, keeping the others
// so values sealed with them still open, and returns the new key file's
// keys. The new key is named "keyN" with N one more than the largest such
// number in the file. A missing file is written with the one new key.
func Rotate(path string) ([]Key, error) {
	keys, err := ReadKeyFile(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	k, err := GenerateKey(nextName(keys))
	if err != nil {
		return nil, err
	}
	keys = append([]Key{k}, keys...)
	if err := writeKeyFile(path, keys); err != nil {
		return nil, err
	}
	return keys, nil
}

func nextName(keys []Key) string {
	n := 0
	for _, k := range keys {
		if i, err := strconv.Atoi(strings.TrimPrefix(k.Name, "key")); err == nil && strings.HasPrefix(k.Name, "key") && i > n {
			n = i
		}
	}
	return "key" + strconv.Itoa(n+1)
}

// writeKeyFile replaces the file at path in one rename, so a crash leaves
// either the old keys or the new ones, never a half-written file.
func writeKeyFile(path string, keys []Key) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("secrets encryption key file: %w", err)
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("secrets encryption key file: %w", err)
	}
	defer os.Remove(f.Name())
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return fmt.Errorf("secrets encryption key file: %w", err)
	}
	if _, err := f.Write(FormatKeys(keys)); err != nil {
		f.Close()
		return fmt.Errorf("secrets encryption key file: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("secrets encryption key file: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("secrets encryption key file: %w", err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("secrets encryption key file: %w", err)
	}
	return nil
}
