package apiserver

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/bosun-sh/bosun/internal/storage"
)

// initialEventsEnd is the annotation on the bookmark that ends the initial
// events of a watch with sendInitialEvents=true.
const initialEventsEnd = "k8s.io/initial-events-end"

// watchEvent is the JSON form of one watch event.
type watchEvent struct {
	Type   watch.EventType `json:"type"`
	Object json.RawMessage `json:"object"`
}

// watcher streams one watch response.
type watcher struct {
	h     *handler
	w     http.ResponseWriter
	flush http.Flusher
	sel   selection
	as    string
	vers  string
	incl  string
	sent  int
	// proto frames events as Kubernetes' protobuf watch stream: each a
	// 4-byte big-endian length and a metav1.WatchEvent whose object is the
	// protobuf encoding of the object.
	proto bool
}

func (h *handler) watch(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	p, err := parseListParams(q)
	if err == nil && p.cont != "" {
		err = errBadRequest("continue is not allowed on a watch")
	}
	if err != nil {
		writeStatus(w, r, toStatus(err, h.rs.gr(), ""))
		return
	}
	sel, err := h.selectors(q)
	if err != nil {
		writeStatus(w, r, toStatus(err, h.rs.gr(), ""))
		return
	}
	f, ok := negotiate(r, map[string]bool{"Table": true, "PartialObjectMetadata": true})
	proto := ok && f.media == mediaProtobuf && f.as == ""
	if !ok || f.media == mediaProtobuf && !proto && !acceptsJSON(r) {
		writeStatus(w, r, newStatus(http.StatusNotAcceptable, metav1.StatusReasonNotAcceptable, "tables and metadata are watched as application/json").s)
		return
	}
	sendInitial := q.Get("sendInitialEvents") == "true"
	bookmarks := q.Get("allowWatchBookmarks") == "true"
	if q.Get("sendInitialEvents") != "" {
		if p.match != "NotOlderThan" {
			writeStatus(w, r, toStatus(errInvalidWatch("sendInitialEvents is forbidden for watch unless resourceVersionMatch is set to NotOlderThan"), h.rs.gr(), ""))
			return
		}
		if sendInitial && !bookmarks {
			writeStatus(w, r, toStatus(errInvalidWatch("sendInitialEvents requires setting allowWatchBookmarks to true"), h.rs.gr(), ""))
			return
		}
	}
	timeout := time.Duration(p.timeout) * time.Second
	if timeout == 0 {
		timeout = time.Duration(30+rand.IntN(30)) * time.Minute
	}
	ctx, cancel := context.WithTimeout(r.Context(), timeout)
	defer cancel()
	h.s.watches.Add(1)
	defer h.s.watches.Done()
	go func() {
		select {
		case <-h.s.stopping:
			cancel()
		case <-ctx.Done():
		}
	}()

	// Decide where the watch starts and whether to replay current state.
	prefix := h.rs.listPrefix(h.t.namespace)
	replay := sendInitial || !p.rvSet || p.rvZero
	if p.match == "NotOlderThan" && !sendInitial {
		replay = false
	}
	start := p.rv
	var initial []storage.KV
	if replay || start == 0 {
		res, err := h.s.store.List(ctx, prefix, storage.ListOptions{})
		if err != nil {
			writeStatus(w, r, toStatus(err, h.rs.gr(), ""))
			return
		}
		initial, start = res.KVs, res.Rev
		for res.More {
			res, err = h.s.store.List(ctx, prefix, storage.ListOptions{Rev: start, After: res.KVs[len(res.KVs)-1].Key})
			if err != nil {
				writeStatus(w, r, toStatus(err, h.rs.gr(), ""))
				return
			}
			initial = append(initial, res.KVs...)
		}
		if !replay {
			initial = nil
		}
	}
	// Share the resource's etcd watch when the start is recent enough;
	// otherwise watch etcd directly (which answers 410 when compacted).
	var (
		shared <-chan *sharedEvent
		gone   <-chan struct{}
		direct <-chan []storage.Event
		werr   func() error
	)
	b := h.s.broadcasterFor(h.rs)
	sub, ok := b.subscribe(ctx, prefix, start)
	if ok {
		defer b.unsubscribe(sub)
		shared, gone = sub.ch, sub.gone
	} else {
		direct, werr = h.s.store.Watch(ctx, prefix, start)
	}

	ww := &watcher{h: h, w: w, sel: sel, as: f.as, vers: f.vers, incl: q.Get("includeObject"), proto: proto}
	ww.flush, _ = w.(http.Flusher)
	if proto {
		w.Header().Set("Content-Type", mediaProtobuf+";stream=watch")
	} else {
		w.Header().Set("Content-Type", mediaJSON)
	}
	w.Header().Set("Cache-Control", "no-cache, private")
	w.WriteHeader(http.StatusOK)
	for _, kv := range initial {
		obj, err := h.rs.decodeStored(kv)
		if err != nil {
			ww.sendError(err)
			return
		}
		if sel.matches(h.rs, obj) {
			if !ww.send(watch.Added, obj, nil) {
				return
			}
		}
	}
	if sendInitial {
		if !ww.bookmark(start, true) {
			return
		}
	}
	ww.doFlush()
	for {
		select {
		case <-ctx.Done():
			return
		case e := <-shared:
			if !ww.handle(e, bookmarks) {
				return
			}
			// Flush once the backlog is written, not per event.
			if len(shared) == 0 {
				ww.doFlush()
			}
		case <-gone:
			// Deliver what was queued before the end.
			for len(shared) > 0 {
				if !ww.handle(<-shared, bookmarks) {
					return
				}
			}
			if sub.err != nil && ctx.Err() == nil {
				ww.sendError(sub.err)
			}
			return
		case batch, ok := <-direct:
			if !ok {
				if err := werr(); err != nil && ctx.Err() == nil {
					ww.sendError(err)
				}
				return
			}
			for _, ev := range batch {
				if !ww.handle(&sharedEvent{ev: ev, rev: ev.KV.Rev}, bookmarks) {
					return
				}
			}
			ww.doFlush()
		}
	}
}

func acceptsJSON(r *http.Request) bool {
	for _, m := range parseAccept(r.Header.Get("Accept")) {
		if m.typ == mediaJSON || m.typ == "*/*" {
			return true
		}
	}
	return false
}

func errInvalidWatch(msg string) error {
	return newStatus(http.StatusUnprocessableEntity, metav1.StatusReasonInvalid, msg)
}

// handle turns one storage event into at most one watch event.
func (ww *watcher) handle(e *sharedEvent, bookmarks bool) bool {
	rs := ww.h.rs
	if e.ev.Type == storage.Progress {
		if bookmarks {
			return ww.bookmark(e.rev, false)
		}
		return true
	}
	obj, prev, err := e.objects(rs)
	if err != nil {
		return ww.sendError(err)
	}
	if obj == nil {
		return true
	}
	now := ww.sel.matches(rs, obj)
	if e.ev.Type == storage.Delete {
		if now {
			return ww.send(watch.Deleted, obj, e)
		}
		return true
	}
	before := false
	if prev != nil {
		before = ww.sel.empty() || ww.sel.matches(rs, prev)
	}
	switch {
	case now && before:
		return ww.send(watch.Modified, obj, e)
	case now:
		return ww.send(watch.Added, obj, e)
	case before:
		// Leaving the selector reads as the deletion of what the watcher
		// last saw, at the event's revision, as Kubernetes sends it: the
		// object in a DELETED event still matches the selector.
		gone := prev.DeepCopyObject()
		accessor(gone).SetResourceVersion(strconv.FormatInt(e.rev, 10))
		return ww.send(watch.Deleted, gone, nil)
	}
	return true
}

// send writes one event; false means the client is gone. A shared event
// carries its JSON encoding, made once for all watchers.
func (ww *watcher) send(t watch.EventType, stored runtime.Object, e *sharedEvent) bool {
	if ww.as == "" && e != nil {
		if ww.proto {
			data, err := e.servedProtobuf(ww.h.rs)
			if err != nil {
				return ww.sendError(err)
			}
			return ww.writeRaw(t, data)
		}
		data, err := e.servedJSON(ww.h.rs)
		if err != nil {
			return ww.sendError(err)
		}
		return ww.writeRaw(t, data)
	}
	obj, err := ww.h.rs.toServed(stored)
	if err != nil {
		return ww.sendError(err)
	}
	switch ww.as {
	case "Table":
		m := accessor(obj)
		obj = ww.h.table([]runtime.Object{obj}, metav1.ListMeta{ResourceVersion: m.GetResourceVersion()}, ww.incl, ww.vers, ww.sent == 0)
	case "PartialObjectMetadata":
		obj = partialMetadata(obj, ww.vers)
	}
	return ww.write(t, obj)
}

func (ww *watcher) write(t watch.EventType, obj runtime.Object) bool {
	media := mediaJSON
	if ww.proto {
		media = mediaProtobuf
	}
	data, err := encode(media, obj)
	if err != nil {
		return false
	}
	return ww.writeRaw(t, data)
}

// writeRaw writes one event whose object is already encoded: as JSON,
// {"type":T,"object":DATA} and a newline; as protobuf, a length-prefixed
// WatchEvent.
func (ww *watcher) writeRaw(t watch.EventType, data []byte) bool {
	if ww.proto {
		ev := metav1.WatchEvent{Type: string(t), Object: runtime.RawExtension{Raw: data}}
		buf := make([]byte, 4+ev.Size())
		n, err := ev.MarshalTo(buf[4:])
		if err != nil {
			return false
		}
		binary.BigEndian.PutUint32(buf, uint32(n))
		ww.sent++
		_, err = ww.w.Write(buf[:4+n])
		return err == nil
	}
	buf := make([]byte, 0, len(data)+32)
	buf = append(buf, `{"type":"`...)
	buf = append(buf, t...)
	buf = append(buf, `","object":`...)
	buf = append(buf, data...)
	buf = append(buf, "}\n"...)
	ww.sent++
	_, err := ww.w.Write(buf)
	return err == nil
}

// bookmark sends a BOOKMARK at rev.
func (ww *watcher) bookmark(rev int64, initialEnd bool) bool {
	obj := ww.h.rs.served.New()
	setTypeMeta(obj, ww.h.rs.served.GVK)
	m := accessor(obj)
	m.SetResourceVersion(strconv.FormatInt(rev, 10))
	if initialEnd {
		m.SetAnnotations(map[string]string{initialEventsEnd: "true"})
	}
	if ww.as == "PartialObjectMetadata" {
		// A metadata-only client decodes every event, bookmarks too, as
		// PartialObjectMetadata.
		obj = partialMetadata(obj, ww.vers)
	}
	ok := ww.write(watch.Bookmark, obj)
	ww.doFlush()
	return ok
}

// sendError ends the watch with an ERROR event carrying a Status (410
// Expired when the start revision was compacted).
func (ww *watcher) sendError(err error) bool {
	st := toStatus(err, ww.h.rs.gr(), "")
	if errors.Is(err, storage.ErrCompacted) {
		st = newStatus(http.StatusGone, metav1.StatusReasonExpired, "too old resource version: "+err.Error()).s
	}
	ww.write(watch.Error, &st)
	ww.doFlush()
	return false
}

func (ww *watcher) doFlush() {
	if ww.flush != nil {
		ww.flush.Flush()
	}
}
