package storage

import (
	"context"
	"errors"
	"testing"
	"time"
)

func startStore(t *testing.T) *Store {
	t.Helper()
	ctx := context.Background()
	e, err := StartEmbedded(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	return New(e.Client)
}

func TestStoreConcurrencyAndWatch(t *testing.T) {
	s := startStore(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rev0, err := s.Rev(ctx)
	if err != nil {
		t.Fatal(err)
	}
	r1, err := s.Create(ctx, "/r/a", []byte("1"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Create(ctx, "/r/a", []byte("x")); !errors.Is(err, ErrExists) {
		t.Fatalf("second create: %v, want ErrExists", err)
	}
	if _, err := s.Update(ctx, "/r/a", []byte("2"), r1-1); !errors.Is(err, ErrConflict) {
		t.Fatalf("stale update: %v, want ErrConflict", err)
	}
	if _, err := s.Update(ctx, "/r/missing", []byte("2"), 5); !errors.Is(err, ErrNotFound) {
		t.Fatalf("update of missing key: %v, want ErrNotFound", err)
	}
	r2, err := s.Update(ctx, "/r/a", []byte("2"), r1)
	if err != nil || r2 <= r1 {
		t.Fatalf("update: rev %d err %v", r2, err)
	}
	if _, err := s.Create(ctx, "/r/b", []byte("b")); err != nil {
		t.Fatal(err)
	}
	page, err := s.List(ctx, "/r/", ListOptions{Limit: 1})
	if err != nil || len(page.KVs) != 1 || !page.More || page.Remaining != 1 {
		t.Fatalf("page 1: %+v %v", page, err)
	}
	page2, err := s.List(ctx, "/r/", ListOptions{Limit: 1, After: page.KVs[0].Key, Rev: page.Rev})
	if err != nil || len(page2.KVs) != 1 || page2.More || page2.KVs[0].Key != "/r/b" {
		t.Fatalf("page 2: %+v %v", page2, err)
	}
	past, err := s.List(ctx, "/r/", ListOptions{Rev: r1})
	if err != nil || len(past.KVs) != 1 || string(past.KVs[0].Value) != "1" {
		t.Fatalf("list at past revision: %+v %v", past, err)
	}

	ch, werr := s.Watch(ctx, "/r/", rev0)
	var seen []Event
	for len(seen) < 3 {
		select {
		case b, ok := <-ch:
			if !ok {
				t.Fatalf("watch closed: %v", werr())
			}
			for _, e := range b {
				if e.Type != Progress {
					seen = append(seen, e)
				}
			}
		case <-ctx.Done():
			t.Fatal("timed out waiting for events")
		}
	}
	if !seen[0].Created || seen[1].Created || seen[1].Prev == nil || string(seen[1].Prev.Value) != "1" {
		t.Fatalf("events: %+v", seen)
	}

	cur, _ := s.Rev(ctx)
	if err := s.Compact(ctx, cur); err != nil {
		t.Fatal(err)
	}
	if _, err := s.List(ctx, "/r/", ListOptions{Rev: r1}); !errors.Is(err, ErrCompacted) {
		t.Fatalf("list below compaction: %v, want ErrCompacted", err)
	}
	ch2, werr2 := s.Watch(ctx, "/r/", r1)
	for range ch2 {
	}
	if !errors.Is(werr2(), ErrCompacted) {
		t.Fatalf("watch below compaction: %v, want ErrCompacted", werr2())
	}
}
