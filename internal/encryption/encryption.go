// Package encryption owns the encryption of values at rest: the key file
// (named AES-256 keys, the first one encrypting, all of them decrypting),
// its generation and rotation, and the AES-GCM transformer the storage
// layer applies to Secrets. A stored value reads
// "k8s:enc:aesgcm:v1:NAME:" followed by a 12-byte random nonce and the
// sealed bytes, so the key that opens it is named by the value itself and
// values written before encryption was on (no prefix) still read.
package encryption

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
)

// Prefix starts every value this package encrypts. The key name and a
// colon follow it.
const Prefix = "k8s:enc:aesgcm:v1:"

// KeySize is the length of every key: AES-256.
const KeySize = 32

const nonceSize = 12

var (
	// ErrUnknownKey is returned when a stored value names a key that is
	// not in the key file. The error text says which name.
	ErrUnknownKey = errors.New("encryption key not in the key file")
	// ErrCorrupt is returned when a stored value carries the encryption
	// prefix but cannot be opened: truncated, tampered with, or sealed for
	// another storage key.
	ErrCorrupt = errors.New("encrypted value cannot be decrypted")
)

// Key is one named AES-256 key.
type Key struct {
	Name   string
	Secret []byte
}

// Transformer encrypts values with the first key it was given and
// decrypts values sealed with any of them. It is safe for concurrent use:
// the ciphers are built once.
type Transformer struct {
	primary string
	// prefix is Prefix + primary + ":", written before every value.
	prefix []byte
	aeads  map[string]cipher.AEAD
}

// NewTransformer builds a transformer over keys; keys[0] encrypts.
func NewTransformer(keys []Key) (*Transformer, error) {
	if err := validateKeys(keys); err != nil {
		return nil, err
	}
	t := &Transformer{primary: keys[0].Name, prefix: []byte(Prefix + keys[0].Name + ":"), aeads: make(map[string]cipher.AEAD, len(keys))}
	for _, k := range keys {
		block, err := aes.NewCipher(k.Secret)
		if err != nil {
			return nil, fmt.Errorf("key %q: %w", k.Name, err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("key %q: %w", k.Name, err)
		}
		t.aeads[k.Name] = aead
	}
	return t, nil
}

// Primary is the name of the key new values are encrypted with.
func (t *Transformer) Primary() string { return t.primary }

// TransformToStorage seals plain under the primary key. The storage key is
// authenticated with it, so a value copied under another key does not open.
func (t *Transformer) TransformToStorage(key string, plain []byte) ([]byte, error) {
	aead := t.aeads[t.primary]
	out := make([]byte, len(t.prefix)+nonceSize, len(t.prefix)+nonceSize+len(plain)+aead.Overhead())
	copy(out, t.prefix)
	nonce := out[len(t.prefix):]
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("nonce: %w", err)
	}
	return aead.Seal(out, nonce, plain, []byte(key)), nil
}

// TransformFromStorage opens a stored value. stale is true when the value
// is not sealed under the primary key (plain text included) and should be
// rewritten. A value without the prefix is returned as it is.
func (t *Transformer) TransformFromStorage(key string, stored []byte) (plain []byte, stale bool, err error) {
	name, rest, ok := split(stored)
	if !ok {
		return stored, true, nil
	}
	if name == "" {
		return nil, false, fmt.Errorf("%s: %w: no key name after the prefix", key, ErrCorrupt)
	}
	aead, found := t.aeads[name]
	if !found {
		return nil, false, fmt.Errorf("%s: value sealed with key %q: %w", key, name, ErrUnknownKey)
	}
	if len(rest) < nonceSize {
		return nil, false, fmt.Errorf("%s: %w: %d bytes after the prefix", key, ErrCorrupt, len(rest))
	}
	plain, err = aead.Open(nil, rest[:nonceSize], rest[nonceSize:], []byte(key))
	if err != nil {
		return nil, false, fmt.Errorf("%s: key %q: %w", key, name, ErrCorrupt)
	}
	return plain, name != t.primary, nil
}

// KeyName returns the name of the key a stored value is sealed with, and
// false for a value that is not encrypted.
func KeyName(stored []byte) (string, bool) {
	name, _, ok := split(stored)
	return name, ok
}

// split cuts a stored value into the key name and the nonce and sealed
// bytes that follow it; ok is false for a value without the prefix. A
// value with the prefix but no name-ending colon has an empty name.
func split(stored []byte) (name string, rest []byte, ok bool) {
	if !bytes.HasPrefix(stored, []byte(Prefix)) {
		return "", nil, false
	}
	after := stored[len(Prefix):]
	i := bytes.IndexByte(after, ':')
	if i < 0 {
		return "", nil, true
	}
	return string(after[:i]), after[i+1:], true
}
