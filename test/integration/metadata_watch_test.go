package integration

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/metadata"
	"k8s.io/utils/ptr"

	"github.com/bosun-sh/bosun/internal/testserver"
)

// TestMetadataWatchBookmarks watches through the metadata client, which
// decodes every event — bookmarks included — as PartialObjectMetadata, in
// protobuf (its default) and in JSON. A bookmark carrying the full kind
// breaks the stream.
func TestMetadataWatchBookmarks(t *testing.T) {
	s := testserver.Start(t, testserver.Options{})
	ns := newNamespace(t, s)
	ctx := testContext(t)
	if _, err := s.Client.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "a"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, proto := range []bool{true, false} {
		name := "json"
		if proto {
			name = "protobuf"
		}
		t.Run(name, func(t *testing.T) {
			cfg := metadata.ConfigFor(s.Config)
			if !proto {
				cfg.AcceptContentTypes = "application/json"
				cfg.ContentType = "application/json"
			}
			mc, err := metadata.NewForConfig(cfg)
			if err != nil {
				t.Fatal(err)
			}
			w, err := mc.Resource(corev1.SchemeGroupVersion.WithResource("configmaps")).Namespace(ns).Watch(ctx, metav1.ListOptions{
				SendInitialEvents:    ptr.To(true),
				ResourceVersionMatch: metav1.ResourceVersionMatchNotOlderThan,
				AllowWatchBookmarks:  true,
			})
			if err != nil {
				t.Fatal(err)
			}
			defer w.Stop()
			timeout := time.After(10 * time.Second)
			for {
				select {
				case ev, ok := <-w.ResultChan():
					if !ok {
						t.Fatal("watch ended before the bookmark")
					}
					if ev.Type == watch.Error {
						t.Fatalf("watch error: %v", ev.Object)
					}
					m, ok := ev.Object.(*metav1.PartialObjectMetadata)
					if !ok {
						t.Fatalf("%s event carries %T, want *PartialObjectMetadata", ev.Type, ev.Object)
					}
					if ev.Type == watch.Bookmark {
						if m.Annotations[metav1.InitialEventsAnnotationKey] != "true" || m.ResourceVersion == "" {
							t.Fatalf("bookmark %+v: want the initial-events-end annotation and a resourceVersion", m.ObjectMeta)
						}
						return
					}
				case <-timeout:
					t.Fatal("no bookmark within 10s")
				}
			}
		})
	}
}
