// Package storage keeps API objects in etcd. It knows keys, bytes and
// revisions, not kinds: the API server encodes and decodes. An object's
// resourceVersion is the etcd revision that last modified its key. Values
// under a configured prefix pass through a Transformer on their way in and
// out (Secrets are encrypted at rest), so every caller sees plain bytes.
package storage

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// Sentinel errors. The API server maps them to HTTP status codes.
var (
	// ErrNotFound is returned when a key does not exist.
	ErrNotFound = errors.New("not found")
	// ErrExists is returned by Create when the key already exists.
	ErrExists = errors.New("already exists")
	// ErrConflict is returned by Update and Delete when the stored revision
	// is not the expected one.
	ErrConflict = errors.New("conflict")
	// ErrCompacted is returned by List and Watch when the requested
	// revision has been compacted away.
	ErrCompacted = errors.New("revision compacted")
	// ErrFutureRevision is returned when a requested revision is newer than
	// the store's.
	ErrFutureRevision = errors.New("revision is in the future")
)

// KV is one stored object.
type KV struct {
	Key   string
	Value []byte
	// Rev is the revision that last modified the key.
	Rev int64
}

// Store is an etcd-backed key-value store with optimistic concurrency.
type Store struct {
	c *clientv3.Client
	// prefix selects the keys whose values pass through t; t is nil when
	// no values are transformed.
	prefix string
	t      Transformer
}

// Transformer changes values between the form callers see and the form
// kept in etcd. The storage key is passed so an implementation can bind a
// value to it.
type Transformer interface {
	// TransformToStorage returns the form of plain to keep in etcd.
	TransformToStorage(key string, plain []byte) ([]byte, error)
	// TransformFromStorage returns what was stored as callers see it, and
	// whether the stored form is stale: readable, but to be rewritten
	// (data from before a key rotation, or from before encryption).
	TransformFromStorage(key string, stored []byte) (plain []byte, stale bool, err error)
}

// New wraps an etcd client. The caller owns the client.
func New(c *clientv3.Client) *Store { return &Store{c: c} }

// NewTransforming is New with the values of keys under prefix passed
// through t on every read and write.
func NewTransforming(c *clientv3.Client, prefix string, t Transformer) *Store {
	return &Store{c: c, prefix: prefix, t: t}
}

// Client returns the underlying etcd client. Values read through it are
// in their stored form: transformed values are not turned back.
func (s *Store) Client() *clientv3.Client { return s.c }

func (s *Store) transforms(key string) bool {
	return s.t != nil && strings.HasPrefix(key, s.prefix)
}

// toStorage returns the form of value to put at key.
func (s *Store) toStorage(key string, value []byte) (string, error) {
	if !s.transforms(key) {
		return string(value), nil
	}
	out, err := s.t.TransformToStorage(key, value)
	if err != nil {
		return "", fmt.Errorf("%s: %w", key, err)
	}
	return string(out), nil
}

// kv turns a key-value read from etcd into what callers see.
func (s *Store) kv(kv *mvccpb.KeyValue) (KV, error) {
	key := string(kv.Key)
	if !s.transforms(key) {
		return KV{Key: key, Value: kv.Value, Rev: kv.ModRevision}, nil
	}
	value, _, err := s.t.TransformFromStorage(key, kv.Value)
	if err != nil {
		return KV{}, err
	}
	return KV{Key: key, Value: value, Rev: kv.ModRevision}, nil
}

// Get returns the value at key and the revision that last modified it.
func (s *Store) Get(ctx context.Context, key string) (KV, error) {
	resp, err := s.c.Get(ctx, key)
	if err != nil {
		return KV{}, mapErr(err)
	}
	if len(resp.Kvs) == 0 {
		return KV{}, fmt.Errorf("%s: %w", key, ErrNotFound)
	}
	return s.kv(resp.Kvs[0])
}

// ErrClaimTaken is returned when a claim key passed to a write already
// exists (an IP or port allocated to another object).
var ErrClaimTaken = errors.New("claim already taken")

// GetSerializable is Get served from the local member without a quorum
// round trip; it may be slightly stale. For checks that tolerate that
// (does a namespace exist), as Kubernetes serves them from a cache.
func (s *Store) GetSerializable(ctx context.Context, key string) (KV, error) {
	resp, err := s.c.Get(ctx, key, clientv3.WithSerializable())
	if err != nil {
		return KV{}, mapErr(err)
	}
	if len(resp.Kvs) == 0 {
		return KV{}, fmt.Errorf("%s: %w", key, ErrNotFound)
	}
	return s.kv(resp.Kvs[0])
}

// Create stores value at key if the key does not exist and returns the new
// revision.
func (s *Store) Create(ctx context.Context, key string, value []byte) (int64, error) {
	return s.CreateWith(ctx, key, value, nil)
}

// CreateWith is Create that also creates each claim key (valued with key)
// in the same transaction; it fails with ErrClaimTaken if one exists.
func (s *Store) CreateWith(ctx context.Context, key string, value []byte, claims []string) (int64, error) {
	stored, err := s.toStorage(key, value)
	if err != nil {
		return 0, err
	}
	cmps := []clientv3.Cmp{clientv3.Compare(clientv3.ModRevision(key), "=", 0)}
	ops := []clientv3.Op{clientv3.OpPut(key, stored)}
	for _, c := range claims {
		cmps = append(cmps, clientv3.Compare(clientv3.ModRevision(c), "=", 0))
		ops = append(ops, clientv3.OpPut(c, key))
	}
	resp, err := s.c.Txn(ctx).If(cmps...).Then(ops...).Else(clientv3.OpGet(key, clientv3.WithKeysOnly())).Commit()
	if err != nil {
		return 0, mapErr(err)
	}
	if !resp.Succeeded {
		if len(resp.Responses[0].GetResponseRange().Kvs) > 0 {
			return 0, fmt.Errorf("%s: %w", key, ErrExists)
		}
		return 0, fmt.Errorf("%s: %w", key, ErrClaimTaken)
	}
	return resp.Header.Revision, nil
}

// Update replaces the value at key if it was last modified at rev, and
// returns the new revision. ErrNotFound if the key is gone, ErrConflict if
// it changed.
func (s *Store) Update(ctx context.Context, key string, value []byte, rev int64) (int64, error) {
	return s.UpdateWith(ctx, key, value, rev, nil, nil)
}

// UpdateWith is Update that also creates the claim keys and deletes the
// released ones in the same transaction.
func (s *Store) UpdateWith(ctx context.Context, key string, value []byte, rev int64, claims, release []string) (int64, error) {
	stored, err := s.toStorage(key, value)
	if err != nil {
		return 0, err
	}
	cmps := []clientv3.Cmp{clientv3.Compare(clientv3.ModRevision(key), "=", rev)}
	ops := []clientv3.Op{clientv3.OpPut(key, stored)}
	for _, c := range claims {
		cmps = append(cmps, clientv3.Compare(clientv3.ModRevision(c), "=", 0))
		ops = append(ops, clientv3.OpPut(c, key))
	}
	for _, c := range release {
		ops = append(ops, clientv3.OpDelete(c))
	}
	return s.conditional(ctx, key, cmps, ops)
}

// Delete removes key if it was last modified at rev and returns the
// revision of the deletion.
func (s *Store) Delete(ctx context.Context, key string, rev int64) (int64, error) {
	return s.DeleteWith(ctx, key, rev, nil)
}

// DeleteWith is Delete that also deletes the released claim keys.
func (s *Store) DeleteWith(ctx context.Context, key string, rev int64, release []string) (int64, error) {
	cmps := []clientv3.Cmp{clientv3.Compare(clientv3.ModRevision(key), "=", rev)}
	ops := []clientv3.Op{clientv3.OpDelete(key)}
	for _, c := range release {
		ops = append(ops, clientv3.OpDelete(c))
	}
	return s.conditional(ctx, key, cmps, ops)
}

func (s *Store) conditional(ctx context.Context, key string, cmps []clientv3.Cmp, ops []clientv3.Op) (int64, error) {
	resp, err := s.c.Txn(ctx).If(cmps...).Then(ops...).Else(clientv3.OpGet(key)).Commit()
	if err != nil {
		return 0, mapErr(err)
	}
	if !resp.Succeeded {
		kvs := resp.Responses[0].GetResponseRange().Kvs
		switch {
		case len(kvs) == 0:
			return 0, fmt.Errorf("%s: %w", key, ErrNotFound)
		case len(cmps) > 1 && kvs[0].ModRevision == cmps[0].TargetUnion.(*etcdserverpb.Compare_ModRevision).ModRevision:
			return 0, fmt.Errorf("%s: %w", key, ErrClaimTaken)
		}
		return 0, fmt.Errorf("%s: %w", key, ErrConflict)
	}
	return resp.Header.Revision, nil
}

// ListOptions selects a page of a prefix.
type ListOptions struct {
	// Rev reads at that revision; 0 reads the latest.
	Rev int64
	// Limit bounds the number of keys returned; 0 means all.
	Limit int64
	// After continues after this key (exclusive).
	After string
}

// ListResult is one page of a List.
type ListResult struct {
	KVs []KV
	// Rev is the revision the page was read at.
	Rev int64
	// More is true when keys remain after the page; Remaining counts them.
	More      bool
	Remaining int64
}

// List returns the keys under prefix in key order.
func (s *Store) List(ctx context.Context, prefix string, o ListOptions) (ListResult, error) {
	start := prefix
	if o.After != "" {
		start = o.After + "\x00"
	}
	end := clientv3.GetPrefixRangeEnd(prefix)
	opts := []clientv3.OpOption{clientv3.WithRange(end)}
	if o.Rev > 0 {
		opts = append(opts, clientv3.WithRev(o.Rev))
	}
	if o.Limit > 0 {
		opts = append(opts, clientv3.WithLimit(o.Limit))
	}
	resp, err := s.c.Get(ctx, start, opts...)
	if err != nil {
		return ListResult{}, mapErr(err)
	}
	r := ListResult{KVs: make([]KV, 0, len(resp.Kvs)), Rev: resp.Header.Revision, More: resp.More}
	if o.Rev > 0 {
		r.Rev = o.Rev
	}
	for _, kv := range resp.Kvs {
		v, err := s.kv(kv)
		if err != nil {
			return ListResult{}, err
		}
		r.KVs = append(r.KVs, v)
	}
	if resp.More {
		r.Remaining = resp.Count - int64(len(resp.Kvs))
	}
	return r, nil
}

// Count returns the number of keys under prefix.
func (s *Store) Count(ctx context.Context, prefix string) (int64, error) {
	resp, err := s.c.Get(ctx, prefix, clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil {
		return 0, mapErr(err)
	}
	return resp.Count, nil
}

// Rev returns the store's current revision.
func (s *Store) Rev(ctx context.Context) (int64, error) {
	resp, err := s.c.Get(ctx, "/bosun/revision-probe", clientv3.WithCountOnly())
	if err != nil {
		return 0, mapErr(err)
	}
	return resp.Header.Revision, nil
}

// Compact discards history before rev.
func (s *Store) Compact(ctx context.Context, rev int64) error {
	_, err := s.c.Compact(ctx, rev, clientv3.WithCompactPhysical())
	if err != nil && !errors.Is(err, rpctypes.ErrCompacted) {
		return mapErr(err)
	}
	return nil
}

// EventType says what happened to a key.
type EventType int

const (
	Put EventType = iota
	Delete
	// Progress carries only a revision: nothing under the prefix changed
	// up to it.
	Progress
)

// Event is one change under a watched prefix.
type Event struct {
	Type EventType
	KV   KV
	// Prev is the value before the change (for Delete, the deleted value).
	Prev *KV
	// Created is true for a Put that created the key.
	Created bool
}

// Watch streams changes under prefix with revisions after rev. The channel
// carries batches and closes when ctx ends or the watch fails; the error
// func then tells why (ErrCompacted when rev is too old).
func (s *Store) Watch(ctx context.Context, prefix string, rev int64) (<-chan []Event, func() error) {
	out := make(chan []Event, 16)
	var werr error
	ctx = clientv3.WithRequireLeader(ctx)
	wch := s.c.Watch(ctx, prefix, clientv3.WithPrefix(), clientv3.WithRev(rev+1), clientv3.WithPrevKV(), clientv3.WithProgressNotify())
	go func() {
		defer close(out)
		for resp := range wch {
			if err := resp.Err(); err != nil {
				if resp.CompactRevision > 0 {
					werr = fmt.Errorf("watch from %d (compacted at %d): %w", rev, resp.CompactRevision, ErrCompacted)
				} else {
					werr = mapErr(err)
				}
				return
			}
			var batch []Event
			if resp.IsProgressNotify() || len(resp.Events) == 0 {
				batch = []Event{{Type: Progress, KV: KV{Rev: resp.Header.Revision}}}
			}
			for _, e := range resp.Events {
				ev, err := s.event(e)
				if err != nil {
					// A value that does not open fails the watch, as
					// it fails a List: the watcher sees the error
					// rather than silently missing a change.
					werr = err
					return
				}
				batch = append(batch, ev)
			}
			select {
			case out <- batch:
			case <-ctx.Done():
				return
			}
		}
		if ctx.Err() == nil {
			werr = errors.New("etcd watch closed")
		}
	}()
	return out, func() error { return werr }
}

func (s *Store) event(e *clientv3.Event) (Event, error) {
	// A delete's Kv carries no value; only Prev needs turning back.
	kv := KV{Key: string(e.Kv.Key), Value: e.Kv.Value, Rev: e.Kv.ModRevision}
	if e.Type != mvccpb.DELETE {
		var err error
		if kv, err = s.kv(e.Kv); err != nil {
			return Event{}, err
		}
	}
	ev := Event{KV: kv, Type: Put, Created: e.IsCreate()}
	if e.Type == mvccpb.DELETE {
		ev.Type = Delete
	}
	if e.PrevKv != nil {
		prev, err := s.kv(e.PrevKv)
		if err != nil {
			return Event{}, err
		}
		ev.Prev = &prev
	}
	return ev, nil
}

func mapErr(err error) error {
	switch {
	case errors.Is(err, rpctypes.ErrCompacted):
		return fmt.Errorf("%w: %v", ErrCompacted, err)
	case errors.Is(err, rpctypes.ErrFutureRev):
		return fmt.Errorf("%w: %v", ErrFutureRevision, err)
	}
	return err
}

// RewriteStale rewrites every value under the transformed prefix whose
// stored form the Transformer calls stale (plain text, or sealed under a
// key that is no longer the primary one) and returns how many it rewrote.
// Each value is replaced by a compare-and-swap on its revision, so a
// concurrent write is never lost and a crash leaves every value either
// old or new; running it again finishes the job. A value that does not
// open stops it with the Transformer's error.
func (s *Store) RewriteStale(ctx context.Context) (int, error) {
	if s.t == nil {
		return 0, nil
	}
	const page = 500
	end := clientv3.GetPrefixRangeEnd(s.prefix)
	start := s.prefix
	rewritten := 0
	for {
		resp, err := s.c.Get(ctx, start, clientv3.WithRange(end), clientv3.WithLimit(page))
		if err != nil {
			return rewritten, mapErr(err)
		}
		for _, kv := range resp.Kvs {
			done, err := s.rewrite(ctx, kv)
			if err != nil {
				return rewritten, err
			}
			if done {
				rewritten++
			}
		}
		if !resp.More || len(resp.Kvs) == 0 {
			return rewritten, nil
		}
		start = string(resp.Kvs[len(resp.Kvs)-1].Key) + "\x00"
	}
}

// rewrite replaces one stale value, reading it again whenever another
// write got there first.
func (s *Store) rewrite(ctx context.Context, kv *mvccpb.KeyValue) (bool, error) {
	key := string(kv.Key)
	for {
		plain, stale, err := s.t.TransformFromStorage(key, kv.Value)
		if err != nil {
			return false, err
		}
		if !stale {
			return false, nil
		}
		stored, err := s.toStorage(key, plain)
		if err != nil {
			return false, err
		}
		// The lease, if any, stays: only the value changes.
		resp, err := s.c.Txn(ctx).
			If(clientv3.Compare(clientv3.ModRevision(key), "=", kv.ModRevision)).
			Then(clientv3.OpPut(key, stored, clientv3.WithIgnoreLease())).
			Else(clientv3.OpGet(key)).Commit()
		if err != nil {
			return false, mapErr(err)
		}
		if resp.Succeeded {
			return true, nil
		}
		kvs := resp.Responses[0].GetResponseRange().Kvs
		if len(kvs) == 0 {
			return false, nil
		}
		kv = kvs[0]
	}
}
