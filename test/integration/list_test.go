package integration

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bosun-sh/bosun/internal/testserver"
)

func TestListSelectors(t *testing.T) {
	s := testserver.Start(t, testserver.Options{})
	ns := newNamespace(t, s)
	other := newNamespace(t, s)
	ctx := testContext(t)
	c := s.Client.CoreV1()

	for _, cm := range []struct {
		name   string
		labels map[string]string
	}{
		{"a", map[string]string{"app": "web", "env": "prod"}},
		{"b", map[string]string{"app": "web", "env": "dev"}},
		{"c", map[string]string{"app": "db", "env": "prod"}},
		{"d", map[string]string{"app": "cache"}},
		{"e", nil},
	} {
		if _, err := c.ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: cm.name, Labels: cm.labels}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.ConfigMaps(other).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "a", Labels: map[string]string{"app": "web"}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	names := func(opts metav1.ListOptions) ([]string, error) {
		list, err := c.ConfigMaps(ns).List(ctx, opts)
		if err != nil {
			return nil, err
		}
		var out []string
		for _, it := range list.Items {
			out = append(out, it.Name)
		}
		return out, nil
	}
	labelCases := []struct{ selector, want string }{
		{"app=web", "a,b"},
		{"app==web", "a,b"},
		{"app!=web", "c,d,e"},
		{"app=web,env=prod", "a"},
		{"app in (web,db)", "a,b,c"},
		{"app notin (web,db)", "d,e"},
		{"env", "a,b,c"},
		{"!env", "d,e"},
		{"app in (web),env notin (dev)", "a"},
		{"app=nothing", ""},
	}
	for _, tc := range labelCases {
		got, err := names(metav1.ListOptions{LabelSelector: tc.selector})
		if err != nil {
			t.Errorf("labelSelector %q: %v", tc.selector, err)
			continue
		}
		if strings.Join(got, ",") != tc.want {
			t.Errorf("labelSelector %q: %v, want %s", tc.selector, got, tc.want)
		}
	}
	if _, err := names(metav1.ListOptions{LabelSelector: "app in (web"}); !apierrors.IsBadRequest(err) {
		t.Errorf("malformed label selector: %v, want 400", err)
	}

	got, err := names(metav1.ListOptions{FieldSelector: "metadata.name=c"})
	if err != nil || strings.Join(got, ",") != "c" {
		t.Errorf("fieldSelector metadata.name=c: %v %v", got, err)
	}
	got, err = names(metav1.ListOptions{FieldSelector: "metadata.name!=c", LabelSelector: "env=prod"})
	if err != nil || strings.Join(got, ",") != "a" {
		t.Errorf("fieldSelector metadata.name!=c with env=prod: %v %v", got, err)
	}
	all, err := c.ConfigMaps("").List(ctx, metav1.ListOptions{FieldSelector: "metadata.namespace=" + other})
	if err != nil || len(all.Items) != 1 || all.Items[0].Namespace != other {
		t.Errorf("all-namespaces list with metadata.namespace=%s: %v %v", other, all, err)
	}
	if _, err := names(metav1.ListOptions{FieldSelector: "data.k=v"}); !apierrors.IsBadRequest(err) {
		t.Errorf("unsupported field selector: %v, want 400", err)
	}

	t.Run("pods", func(t *testing.T) {
		pod := func(name, node string) *corev1.Pod {
			return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{Name: "c", Image: "busybox:1.36"}}}}
		}
		for _, p := range []*corev1.Pod{pod("on-n1", "n1"), pod("on-n2", "n2"), pod("unscheduled", "")} {
			if _, err := c.Pods(ns).Create(ctx, p, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		running, err := c.Pods(ns).Get(ctx, "on-n2", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		running.Status.Phase = corev1.PodRunning
		if _, err := c.Pods(ns).UpdateStatus(ctx, running, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		cases := []struct{ selector, want string }{
			{"spec.nodeName=n1", "on-n1"},
			{"spec.nodeName=", "unscheduled"},
			{"spec.nodeName!=", "on-n1,on-n2"},
			{"status.phase=Running", "on-n2"},
			{"status.phase=Pending", "on-n1,unscheduled"},
			{"status.phase!=Running,spec.nodeName=n1", "on-n1"},
		}
		for _, tc := range cases {
			list, err := c.Pods(ns).List(ctx, metav1.ListOptions{FieldSelector: tc.selector})
			if err != nil {
				t.Errorf("pods fieldSelector %q: %v", tc.selector, err)
				continue
			}
			var got []string
			for _, p := range list.Items {
				got = append(got, p.Name)
			}
			if strings.Join(got, ",") != tc.want {
				t.Errorf("pods fieldSelector %q: %v, want %s", tc.selector, got, tc.want)
			}
		}
		if _, err := c.Pods(ns).List(ctx, metav1.ListOptions{FieldSelector: "spec.containers=c"}); !apierrors.IsBadRequest(err) {
			t.Errorf("unsupported pod field: %v, want 400", err)
		}
	})

	t.Run("secrets", func(t *testing.T) {
		for _, sec := range []*corev1.Secret{
			{ObjectMeta: metav1.ObjectMeta{Name: "opaque"}, StringData: map[string]string{"k": "v"}},
			{ObjectMeta: metav1.ObjectMeta{Name: "basic"}, Type: corev1.SecretTypeBasicAuth, StringData: map[string]string{"username": "u", "password": "p"}},
		} {
			if _, err := c.Secrets(ns).Create(ctx, sec, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		list, err := c.Secrets(ns).List(ctx, metav1.ListOptions{FieldSelector: "type=" + string(corev1.SecretTypeBasicAuth)})
		if err != nil || len(list.Items) != 1 || list.Items[0].Name != "basic" {
			t.Errorf("secrets type=basic-auth: %v %v", list, err)
		}
		list, err = c.Secrets(ns).List(ctx, metav1.ListOptions{FieldSelector: "type=Opaque"})
		if err != nil || len(list.Items) != 1 || list.Items[0].Name != "opaque" {
			t.Errorf("secrets type=Opaque: %v %v", list, err)
		}
	})

	t.Run("events", func(t *testing.T) {
		for i, target := range []string{"web-1", "web-2", "web-1"} {
			ev := &corev1.Event{
				ObjectMeta:     metav1.ObjectMeta{Name: fmt.Sprintf("ev-%d", i)},
				InvolvedObject: corev1.ObjectReference{Kind: "Pod", Namespace: ns, Name: target},
				Reason:         "Test", Message: "m", Type: corev1.EventTypeNormal,
				Source: corev1.EventSource{Component: "test"},
			}
			if _, err := c.Events(ns).Create(ctx, ev, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		list, err := c.Events(ns).List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=web-1"})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, e := range list.Items {
			got = append(got, e.Name)
		}
		if strings.Join(got, ",") != "ev-0,ev-2" {
			t.Errorf("events involvedObject.name=web-1: %v, want ev-0,ev-2", got)
		}
		list, err = c.Events(ns).List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.kind=Pod,reason=Test"})
		if err != nil || len(list.Items) != 3 {
			t.Errorf("events involvedObject.kind=Pod,reason=Test: %v %v", list, err)
		}
	})
}

func TestListPagination(t *testing.T) {
	s := testserver.Start(t, testserver.Options{})
	ns := newNamespace(t, s)
	ctx := testContext(t)
	c := s.Client.CoreV1().ConfigMaps(ns)
	// 25 selected objects interleaved with 25 others.
	var want []string
	for i := range 25 {
		for _, kind := range []string{"in", "out"} {
			name := fmt.Sprintf("cm-%02d-%s", i, kind)
			cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"page": kind}}}
			if _, err := c.Create(ctx, cm, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
			if kind == "in" {
				want = append(want, name)
			}
		}
	}
	var everything []string
	for i := range 25 {
		everything = append(everything, fmt.Sprintf("cm-%02d-in", i), fmt.Sprintf("cm-%02d-out", i))
	}

	paginate := func(t *testing.T, selector string, limit int64) (names []string, pages []*corev1.ConfigMapList) {
		opts := metav1.ListOptions{LabelSelector: selector, Limit: limit}
		for range 20 {
			list, err := c.List(ctx, opts)
			if err != nil {
				t.Fatalf("page %d: %v", len(pages)+1, err)
			}
			pages = append(pages, list)
			for _, it := range list.Items {
				names = append(names, it.Name)
			}
			if list.Continue == "" {
				return names, pages
			}
			opts.Continue = list.Continue
		}
		t.Fatal("more than 20 pages")
		return nil, nil
	}
	check := func(t *testing.T, selector string, want []string) {
		names, pages := paginate(t, selector, 10)
		if len(pages) != (len(want)+9)/10 {
			t.Errorf("%d pages, want %d", len(pages), (len(want)+9)/10)
		}
		for i, p := range pages {
			wantLen := 10
			if i == len(pages)-1 {
				wantLen = len(want) - 10*i
			}
			if len(p.Items) != wantLen {
				t.Errorf("page %d: %d items, want %d", i+1, len(p.Items), wantLen)
			}
			if p.ResourceVersion != pages[0].ResourceVersion {
				t.Errorf("page %d read at %s, first page at %s", i+1, p.ResourceVersion, pages[0].ResourceVersion)
			}
		}
		if !slices.Equal(names, want) {
			t.Errorf("paged names %v, want %v", names, want)
		}
		if selector == "" {
			if r := pages[0].RemainingItemCount; r == nil || *r != int64(len(want)-10) {
				t.Errorf("remainingItemCount on the first page: %v, want %d", r, len(want)-10)
			}
		}
	}
	t.Run("all", func(t *testing.T) {
		check(t, "", everything)
	})
	t.Run("selector", func(t *testing.T) {
		check(t, "page=in", want)
	})
	t.Run("exactly25", func(t *testing.T) {
		// Only the 25 selected ones exist in a second namespace.
		ns2 := newNamespace(t, s)
		c2 := s.Client.CoreV1().ConfigMaps(ns2)
		for _, n := range want {
			if _, err := c2.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: n}}, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		opts := metav1.ListOptions{Limit: 10}
		var names []string
		for page := 1; page <= 4; page++ {
			list, err := c2.List(ctx, opts)
			if err != nil {
				t.Fatal(err)
			}
			if page == 1 {
				if r := list.RemainingItemCount; r == nil || *r != 15 {
					t.Errorf("remainingItemCount %v, want 15", r)
				}
			}
			for _, it := range list.Items {
				names = append(names, it.Name)
			}
			if list.Continue == "" {
				if page != 3 {
					t.Errorf("%d pages, want 3", page)
				}
				break
			}
			opts.Continue = list.Continue
		}
		if !slices.Equal(names, want) {
			t.Errorf("paged names %v, want %v", names, want)
		}
	})
	t.Run("consistent", func(t *testing.T) {
		// Later pages show the state of the first page's revision.
		first, err := c.List(ctx, metav1.ListOptions{Limit: 10, LabelSelector: "page=in"})
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Delete(ctx, "cm-24-in", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cm-99-in", Labels: map[string]string{"page": "in"}}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		names := []string{}
		for _, it := range first.Items {
			names = append(names, it.Name)
		}
		opts := metav1.ListOptions{Limit: 10, LabelSelector: "page=in", Continue: first.Continue}
		for range 5 {
			list, err := c.List(ctx, opts)
			if err != nil {
				t.Fatal(err)
			}
			for _, it := range list.Items {
				names = append(names, it.Name)
			}
			if list.Continue == "" {
				break
			}
			opts.Continue = list.Continue
		}
		if !slices.Equal(names, want) {
			t.Errorf("pages during writes: %v, want the snapshot %v", names, want)
		}
	})
	if _, err := c.List(ctx, metav1.ListOptions{Limit: 10, Continue: "garbage"}); !apierrors.IsBadRequest(err) {
		t.Errorf("invalid continue token: %v, want 400", err)
	}
}

func TestListAtExactRevision(t *testing.T) {
	s := testserver.Start(t, testserver.Options{})
	ns := newNamespace(t, s)
	ctx := testContext(t)
	c := s.Client.CoreV1().ConfigMaps(ns)
	a, err := c.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "a"}, Data: map[string]string{"v": "1"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	snapshot, err := c.List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	a.Data["v"] = "2"
	if _, err := c.Update(ctx, a, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "b"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	past, err := c.List(ctx, metav1.ListOptions{ResourceVersion: snapshot.ResourceVersion, ResourceVersionMatch: metav1.ResourceVersionMatchExact})
	if err != nil {
		t.Fatal(err)
	}
	if past.ResourceVersion != snapshot.ResourceVersion {
		t.Errorf("exact list resourceVersion %s, want %s", past.ResourceVersion, snapshot.ResourceVersion)
	}
	if len(past.Items) != 1 || past.Items[0].Name != "a" || past.Items[0].Data["v"] != "1" || past.Items[0].ResourceVersion != a.ResourceVersion {
		t.Errorf("list at %s: %+v, want only a with v=1", snapshot.ResourceVersion, past.Items)
	}
	// Before a was created, nothing.
	before := fmt.Sprint(rv(t, a) - 1)
	empty, err := c.List(ctx, metav1.ListOptions{ResourceVersion: before, ResourceVersionMatch: metav1.ResourceVersionMatchExact})
	if err != nil || len(empty.Items) != 0 {
		t.Errorf("list at %s: %v %v, want empty", before, empty, err)
	}
	now, err := c.List(ctx, metav1.ListOptions{})
	if err != nil || len(now.Items) != 2 || now.Items[0].Data["v"] != "2" {
		t.Errorf("current list: %v %v", now, err)
	}
	// NotOlderThan a past revision answers with current data.
	nt, err := c.List(ctx, metav1.ListOptions{ResourceVersion: snapshot.ResourceVersion, ResourceVersionMatch: metav1.ResourceVersionMatchNotOlderThan})
	if err != nil || len(nt.Items) != 2 {
		t.Errorf("list NotOlderThan %s: %v %v, want 2 items", snapshot.ResourceVersion, nt, err)
	}
	// A revision from the future is refused with a retryable timeout
	// (client-go would retry it; this request does not).
	future := fmt.Sprint(rv(t, &now.ListMeta) + 1000)
	err = s.Client.CoreV1().RESTClient().Get().Namespace(ns).Resource("configmaps").
		Param("resourceVersion", future).Param("resourceVersionMatch", "NotOlderThan").
		MaxRetries(0).Do(ctx).Error()
	if !apierrors.IsTimeout(err) {
		t.Errorf("list at a future revision: %v, want 504 Timeout", err)
	}
	if !apierrors.HasStatusCause(err, metav1.CauseTypeResourceVersionTooLarge) {
		t.Errorf("list at a future revision: %v, want cause %s", err, metav1.CauseTypeResourceVersionTooLarge)
	}
}
