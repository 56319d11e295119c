package storage

import (
	"bytes"
	"context"
	"errors"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/bosun-sh/bosun/internal/encryption"
)

const secrets = "/registry/core/secrets/"

func newKeys(t *testing.T, names ...string) []encryption.Key {
	t.Helper()
	var keys []encryption.Key
	for _, n := range names {
		k, err := encryption.GenerateKey(n)
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k)
	}
	return keys
}

func transformer(t *testing.T, keys ...encryption.Key) *encryption.Transformer {
	t.Helper()
	tr, err := encryption.NewTransformer(keys)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// raw reads what etcd holds at key, bypassing the store.
func raw(t *testing.T, c *clientv3.Client, key string) []byte {
	t.Helper()
	resp, err := c.Get(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Kvs) == 0 {
		t.Fatalf("%s: not in etcd", key)
	}
	return resp.Kvs[0].Value
}

// wantSealed fails unless etcd holds key sealed with keyName and without
// plain in it.
func wantSealed(t *testing.T, c *clientv3.Client, key, keyName string, plain []byte) {
	t.Helper()
	v := raw(t, c, key)
	if name, ok := encryption.KeyName(v); !ok || name != keyName {
		t.Fatalf("%s: stored under key %q (encrypted %v), want %q: %q", key, name, ok, keyName, v)
	}
	if bytes.Contains(v, plain) {
		t.Fatalf("%s: stored value contains the plain text", key)
	}
}

// TestTransformEveryPath drives every exported Store method over a
// transformed key and checks that etcd holds ciphertext while callers see
// plain text. A method added to Store without a case here fails the test.
func TestTransformEveryPath(t *testing.T) {
	e, err := StartEmbedded(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	c := e.Client
	s := NewTransforming(c, secrets, transformer(t, newKeys(t, "key1")...))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	covered := map[string]bool{}
	cover := func(names ...string) {
		for _, n := range names {
			covered[n] = true
		}
	}
	a, b := secrets+"ns/a", secrets+"ns/b"
	v1, v2, vb := []byte(`{"data":"v1-plain"}`), []byte(`{"data":"v2-plain"}`), []byte(`{"data":"b-plain"}`)

	rev0, err := s.Rev(ctx)
	if err != nil {
		t.Fatal(err)
	}
	watch, werr := s.Watch(ctx, secrets, rev0)
	cover("Rev", "Watch")

	r1, err := s.Create(ctx, a, v1)
	if err != nil {
		t.Fatal(err)
	}
	wantSealed(t, c, a, "key1", v1)
	rb, err := s.CreateWith(ctx, b, vb, []string{"/claims/b"})
	if err != nil {
		t.Fatal(err)
	}
	wantSealed(t, c, b, "key1", vb)
	if got := raw(t, c, "/claims/b"); string(got) != b {
		t.Fatalf("claim value %q, want the owner's key", got)
	}
	cover("Create", "CreateWith")

	for name, get := range map[string]func(context.Context, string) (KV, error){"Get": s.Get, "GetSerializable": s.GetSerializable} {
		kv, err := get(ctx, a)
		if err != nil || !bytes.Equal(kv.Value, v1) || kv.Rev != r1 || kv.Key != a {
			t.Fatalf("%s: %+v %v", name, kv, err)
		}
		cover(name)
	}

	r2, err := s.Update(ctx, a, v2, r1)
	if err != nil {
		t.Fatal(err)
	}
	wantSealed(t, c, a, "key1", v2)
	rb2, err := s.UpdateWith(ctx, b, v1, rb, []string{"/claims/b2"}, []string{"/claims/b"})
	if err != nil {
		t.Fatal(err)
	}
	wantSealed(t, c, b, "key1", v1)
	cover("Update", "UpdateWith")

	list, err := s.List(ctx, secrets, ListOptions{})
	if err != nil || len(list.KVs) != 2 || !bytes.Equal(list.KVs[0].Value, v2) || !bytes.Equal(list.KVs[1].Value, v1) {
		t.Fatalf("List: %+v %v", list, err)
	}
	past, err := s.List(ctx, secrets, ListOptions{Rev: r1, Limit: 1})
	if err != nil || len(past.KVs) != 1 || !bytes.Equal(past.KVs[0].Value, v1) {
		t.Fatalf("List at a past revision: %+v %v", past, err)
	}
	if n, err := s.Count(ctx, secrets); err != nil || n != 2 {
		t.Fatalf("Count = %d, %v", n, err)
	}
	cover("List", "Count")

	if _, err := s.Delete(ctx, a, r2); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DeleteWith(ctx, b, rb2, []string{"/claims/b2"}); err != nil {
		t.Fatal(err)
	}
	cover("Delete", "DeleteWith")

	var events []Event
	for len(events) < 6 {
		select {
		case batch, ok := <-watch:
			if !ok {
				t.Fatalf("watch closed: %v", werr())
			}
			for _, ev := range batch {
				if ev.Type != Progress {
					events = append(events, ev)
				}
			}
		case <-ctx.Done():
			t.Fatalf("watch: %d events before timeout", len(events))
		}
	}
	want := []struct {
		typ        EventType
		key        string
		value      []byte
		prev       []byte
		hasPrev    bool
		wantCreate bool
	}{
		{Put, a, v1, nil, false, true},
		{Put, b, vb, nil, false, true},
		{Put, a, v2, v1, true, false},
		{Put, b, v1, vb, true, false},
		{Delete, a, nil, v2, true, false},
		{Delete, b, nil, v1, true, false},
	}
	for i, w := range want {
		ev := events[i]
		if ev.Type != w.typ || ev.KV.Key != w.key || !bytes.Equal(ev.KV.Value, w.value) || ev.Created != w.wantCreate || (ev.Prev != nil) != w.hasPrev {
			t.Fatalf("event %d: %+v, want %+v", i, ev, w)
		}
		if w.hasPrev && !bytes.Equal(ev.Prev.Value, w.prev) {
			t.Fatalf("event %d: prev %q, want %q", i, ev.Prev.Value, w.prev)
		}
	}

	// Keys outside the prefix are stored as they are.
	if _, err := s.Create(ctx, "/registry/core/configmaps/ns/a", v1); err != nil {
		t.Fatal(err)
	}
	if got := raw(t, c, "/registry/core/configmaps/ns/a"); !bytes.Equal(got, v1) {
		t.Fatalf("configmap stored as %q", got)
	}

	if _, err := s.RewriteStale(ctx); err != nil {
		t.Fatal(err)
	}
	cur, _ := s.Rev(ctx)
	if err := s.Compact(ctx, cur); err != nil {
		t.Fatal(err)
	}
	cover("RewriteStale", "Compact", "Client")

	var missing []string
	st := reflect.TypeOf(s)
	for i := 0; i < st.NumMethod(); i++ {
		if name := st.Method(i).Name; !covered[name] {
			missing = append(missing, name)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Fatalf("Store methods without a transform check: %v", missing)
	}
}

func TestWatchFailsOnUnopenableValue(t *testing.T) {
	s := startStore(t)
	c := s.Client()
	ts := NewTransforming(c, secrets, transformer(t, newKeys(t, "key1")...))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rev, _ := ts.Rev(ctx)
	ch, werr := ts.Watch(ctx, secrets, rev)
	if _, err := c.Put(ctx, secrets+"ns/x", encryption.Prefix+"gone:0123456789abcdef"); err != nil {
		t.Fatal(err)
	}
	for range ch {
	}
	if err := werr(); !errors.Is(err, encryption.ErrUnknownKey) {
		t.Fatalf("watch error %v, want ErrUnknownKey", err)
	}
	if _, err := ts.Get(ctx, secrets+"ns/x"); !errors.Is(err, encryption.ErrUnknownKey) || !strings.Contains(err.Error(), `"gone"`) {
		t.Fatalf("Get: %v, want ErrUnknownKey naming the key", err)
	}
	if _, err := ts.List(ctx, secrets, ListOptions{}); !errors.Is(err, encryption.ErrUnknownKey) {
		t.Fatalf("List: %v, want ErrUnknownKey", err)
	}
}

func TestRewriteStale(t *testing.T) {
	s := startStore(t)
	c := s.Client()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	keys := newKeys(t, "key1", "key2")
	old := NewTransforming(c, secrets, transformer(t, keys[0]))

	// Plain text from before encryption, values under the old key, one
	// already under the new key, and a key outside the prefix.
	for i, v := range []string{"plain-0", "plain-1"} {
		if _, err := c.Put(ctx, secrets+"ns/p"+string(rune('0'+i)), v); err != nil {
			t.Fatal(err)
		}
	}
	for _, k := range []string{"o0", "o1", "o2"} {
		if _, err := old.Create(ctx, secrets+"ns/"+k, []byte("old-"+k)); err != nil {
			t.Fatal(err)
		}
	}
	cur := NewTransforming(c, secrets, transformer(t, keys[1], keys[0]))
	if _, err := cur.Create(ctx, secrets+"ns/n0", []byte("new-n0")); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Put(ctx, "/registry/core/configmaps/ns/p", "plain-cm"); err != nil {
		t.Fatal(err)
	}
	n0Rev := mustGet(t, cur, secrets+"ns/n0").Rev

	n, err := cur.RewriteStale(ctx)
	if err != nil || n != 5 {
		t.Fatalf("RewriteStale = %d, %v; want 5", n, err)
	}
	for k, v := range map[string]string{"p0": "plain-0", "p1": "plain-1", "o0": "old-o0", "o1": "old-o1", "o2": "old-o2", "n0": "new-n0"} {
		wantSealed(t, c, secrets+"ns/"+k, "key2", []byte(v))
		if got := mustGet(t, cur, secrets+"ns/"+k).Value; string(got) != v {
			t.Fatalf("%s reads %q, want %q", k, got, v)
		}
	}
	if mustGet(t, cur, secrets+"ns/n0").Rev != n0Rev {
		t.Fatal("a value already under the primary key was rewritten")
	}
	if got := raw(t, c, "/registry/core/configmaps/ns/p"); string(got) != "plain-cm" {
		t.Fatalf("value outside the prefix rewritten: %q", got)
	}
	if n, err := cur.RewriteStale(ctx); err != nil || n != 0 {
		t.Fatalf("second pass = %d, %v; want 0", n, err)
	}

	// Dropping key1 from the key file is safe now: nothing names it.
	only2 := NewTransforming(c, secrets, transformer(t, keys[1]))
	if _, err := only2.List(ctx, secrets, ListOptions{}); err != nil {
		t.Fatalf("list without the old key: %v", err)
	}
	// A value under a key that is gone stops the pass and names the key.
	if _, err := old.Create(ctx, secrets+"ns/z", []byte("z")); err != nil {
		t.Fatal(err)
	}
	if _, err := only2.RewriteStale(ctx); !errors.Is(err, encryption.ErrUnknownKey) || !strings.Contains(err.Error(), `"key1"`) {
		t.Fatalf("pass over a value under a missing key: %v", err)
	}
}

// racingTransformer writes the key behind the pass's back the first time
// the pass seals it, as a concurrent API request would.
type racingTransformer struct {
	*encryption.Transformer
	c     *clientv3.Client
	raced bool
}

func (r *racingTransformer) TransformToStorage(key string, plain []byte) ([]byte, error) {
	if !r.raced {
		r.raced = true
		sealed, err := r.Transformer.TransformToStorage(key, []byte("concurrent"))
		if err != nil {
			return nil, err
		}
		if _, err := r.c.Put(context.Background(), key, string(sealed)); err != nil {
			return nil, err
		}
	}
	return r.Transformer.TransformToStorage(key, plain)
}

func TestRewriteStaleKeepsConcurrentWrite(t *testing.T) {
	s := startStore(t)
	c := s.Client()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	key := secrets + "ns/race"
	if _, err := c.Put(ctx, key, "before"); err != nil {
		t.Fatal(err)
	}
	rt := &racingTransformer{Transformer: transformer(t, newKeys(t, "key1")...), c: c}
	ts := NewTransforming(c, secrets, rt)
	n, err := ts.RewriteStale(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !rt.raced {
		t.Fatal("the concurrent write did not happen")
	}
	// The concurrent write was already under the primary key: the pass
	// must leave it, not put back the value it read first.
	if n != 0 {
		t.Fatalf("rewrote %d values over a concurrent write", n)
	}
	if got := mustGet(t, ts, key).Value; string(got) != "concurrent" {
		t.Fatalf("value after the pass %q, want the concurrent write", got)
	}
}

func mustGet(t *testing.T, s *Store, key string) KV {
	t.Helper()
	kv, err := s.Get(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	return kv
}
