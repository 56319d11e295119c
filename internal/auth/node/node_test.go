package node

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/cache"

	"github.com/bosun-sh/bosun/internal/auth/authorizer"
	"github.com/bosun-sh/bosun/internal/auth/rbac"
	"github.com/bosun-sh/bosun/internal/auth/user"
)

func pod(ns, name, node string, spec corev1.PodSpec) *corev1.Pod {
	spec.NodeName = node
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, UID: types.UID(ns + "/" + name)}, Spec: spec}
}

func secretEnv(name string) []corev1.EnvVar {
	return []corev1.EnvVar{{Name: "X", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: name}, Key: "k"}}}}
}

// fixture is two nodes' pods and the volumes they use.
func fixture() []runtime.Object {
	web := pod("team", "web", "n1", corev1.PodSpec{
		ServiceAccountName: "web-sa",
		ImagePullSecrets:   []corev1.LocalObjectReference{{Name: "pull"}},
		InitContainers:     []corev1.Container{{Name: "init", Env: secretEnv("init-s")}},
		Containers: []corev1.Container{{
			Name: "c",
			Env:  secretEnv("env-s"),
			EnvFrom: []corev1.EnvFromSource{
				{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "envfrom-c"}}},
				{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "envfrom-s"}}},
			},
		}},
		EphemeralContainers: []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: "debug", Env: secretEnv("eph-s")}}},
		Volumes: []corev1.Volume{
			{Name: "tls", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "tls"}}},
			{Name: "cfg", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}}}},
			{Name: "proj", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{Sources: []corev1.VolumeProjection{
				{Secret: &corev1.SecretProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "proj-s"}}},
				{ConfigMap: &corev1.ConfigMapProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "proj-c"}}},
				{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "token"}},
			}}}},
			{Name: "data", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "data"}}},
			{Name: "scratch", VolumeSource: corev1.VolumeSource{Ephemeral: &corev1.EphemeralVolumeSource{}}},
			{Name: "csi", VolumeSource: corev1.VolumeSource{CSI: &corev1.CSIVolumeSource{Driver: "d", NodePublishSecretRef: &corev1.LocalObjectReference{Name: "csi-s"}}}},
		},
	})
	pending := pod("team", "pending", "", corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Env: secretEnv("pending-s")}}})
	mirror := pod("team", "static", "n1", corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Env: secretEnv("mirror-s")}}})
	mirror.Annotations = map[string]string{corev1.MirrorPodAnnotationKey: "x"}
	db := pod("team", "db", "n2", corev1.PodSpec{
		ServiceAccountName: "db-sa",
		Containers:         []corev1.Container{{Name: "c", Env: secretEnv("db-s")}},
		Volumes:            []corev1.Volume{{Name: "d", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "db-data"}}}},
	})
	pvData := &corev1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: "pv-data"}, Spec: corev1.PersistentVolumeSpec{
		ClaimRef: &corev1.ObjectReference{Namespace: "team", Name: "data"},
		PersistentVolumeSource: corev1.PersistentVolumeSource{CSI: &corev1.CSIPersistentVolumeSource{
			Driver:                     "d",
			NodePublishSecretRef:       &corev1.SecretReference{Namespace: "storage", Name: "pv-s"},
			NodeStageSecretRef:         &corev1.SecretReference{Name: "stage-s"}, // the claim's namespace
			ControllerPublishSecretRef: &corev1.SecretReference{Namespace: "storage", Name: "ctrl-s"},
		}},
	}}
	pvDB := &corev1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: "pv-db"}, Spec: corev1.PersistentVolumeSpec{
		ClaimRef: &corev1.ObjectReference{Namespace: "team", Name: "db-data"},
	}}
	pvFree := &corev1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: "pv-free"}, Spec: corev1.PersistentVolumeSpec{
		PersistentVolumeSource: corev1.PersistentVolumeSource{CSI: &corev1.CSIPersistentVolumeSource{
			Driver: "d", NodePublishSecretRef: &corev1.SecretReference{Namespace: "storage", Name: "free-s"},
		}},
	}}
	return []runtime.Object{web, pending, mirror, db, pvData, pvDB, pvFree}
}

// start builds an authorizer over a fake clientset holding objs and waits
// for it to sync.
func start(t testing.TB, objs ...runtime.Object) (*Authorizer, kubernetes.Interface) {
	t.Helper()
	client := fake.NewSimpleClientset(objs...)
	f := informers.NewSharedInformerFactory(client, 0)
	z := New(f)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(func() { cancel(); f.Shutdown() })
	f.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), z.HasSynced) {
		t.Fatal("node authorizer did not sync")
	}
	return z, client
}

var n1 = user.Info{Name: "system:node:n1", Groups: []string{user.NodesGroup, user.AllAuthenticated}}

func res(verb, group, resource, sub, ns, name string) authorizer.Attributes {
	return authorizer.Attributes{User: n1, Verb: verb, ResourceRequest: true, APIGroup: group, Resource: resource, Subresource: sub, Namespace: ns, Name: name}
}

func as(u user.Info, a authorizer.Attributes) authorizer.Attributes {
	a.User = u
	return a
}

const noRel = "no relationship found between node 'n1' and this object"

func TestAuthorize(t *testing.T) {
	z, _ := start(t, fixture()...)
	cases := []struct {
		name   string
		attrs  authorizer.Attributes
		want   authorizer.Decision
		reason string // checked when not empty
	}{
		// Secrets and ConfigMaps its pods use, in every way a pod uses them.
		{"secret volume", res("get", "", "secrets", "", "team", "tls"), authorizer.Allow, ""},
		{"secret watched by name", res("watch", "", "secrets", "", "team", "tls"), authorizer.Allow, ""},
		{"secret listed by name", res("list", "", "secrets", "", "team", "tls"), authorizer.Allow, ""},
		{"env secret", res("get", "", "secrets", "", "team", "env-s"), authorizer.Allow, ""},
		{"envFrom secret", res("get", "", "secrets", "", "team", "envfrom-s"), authorizer.Allow, ""},
		{"init container secret", res("get", "", "secrets", "", "team", "init-s"), authorizer.Allow, ""},
		{"ephemeral container secret", res("get", "", "secrets", "", "team", "eph-s"), authorizer.Allow, ""},
		{"image pull secret", res("get", "", "secrets", "", "team", "pull"), authorizer.Allow, ""},
		{"projected secret", res("get", "", "secrets", "", "team", "proj-s"), authorizer.Allow, ""},
		{"inline CSI secret", res("get", "", "secrets", "", "team", "csi-s"), authorizer.Allow, ""},
		{"configmap volume", res("get", "", "configmaps", "", "team", "cfg"), authorizer.Allow, ""},
		{"projected configmap", res("get", "", "configmaps", "", "team", "proj-c"), authorizer.Allow, ""},
		{"envFrom configmap", res("watch", "", "configmaps", "", "team", "envfrom-c"), authorizer.Allow, ""},
		{"another node's pod's secret", res("get", "", "secrets", "", "team", "db-s"), authorizer.NoOpinion, noRel},
		{"same name in another namespace", res("get", "", "secrets", "", "other", "tls"), authorizer.NoOpinion, noRel},
		{"a secret name is no configmap", res("get", "", "configmaps", "", "team", "tls"), authorizer.NoOpinion, noRel},
		{"unbound pod's secret", res("get", "", "secrets", "", "team", "pending-s"), authorizer.NoOpinion, noRel},
		{"mirror pod's secret", res("get", "", "secrets", "", "team", "mirror-s"), authorizer.NoOpinion, noRel},
		{"listing all secrets", res("list", "", "secrets", "", "team", ""), authorizer.NoOpinion, "No Object name found"},
		{"secrets across namespaces", res("watch", "", "secrets", "", "", ""), authorizer.NoOpinion, "can only read namespaced object of this type"},
		{"writing a secret", res("update", "", "secrets", "", "team", "tls"), authorizer.NoOpinion, "can only read resources of this type"},
		{"creating a secret", res("create", "", "secrets", "", "team", ""), authorizer.NoOpinion, "can only read resources of this type"},

		// Claims, volumes and the Secrets volumes name.
		{"claim", res("get", "", "persistentvolumeclaims", "", "team", "data"), authorizer.Allow, ""},
		{"ephemeral volume's claim", res("get", "", "persistentvolumeclaims", "", "team", "web-scratch"), authorizer.Allow, ""},
		{"another node's claim", res("get", "", "persistentvolumeclaims", "", "team", "db-data"), authorizer.NoOpinion, noRel},
		{"listing claims", res("list", "", "persistentvolumeclaims", "", "team", ""), authorizer.NoOpinion, "can only get individual resources of this type"},
		{"claim status", res("patch", "", "persistentvolumeclaims", "status", "team", "data"), authorizer.Allow, ""},
		{"another node's claim status", res("update", "", "persistentvolumeclaims", "status", "team", "db-data"), authorizer.NoOpinion, noRel},
		{"reading claim status", res("get", "", "persistentvolumeclaims", "status", "team", "data"), authorizer.NoOpinion, "can only get/update/patch this type"},
		{"volume of its claim", res("get", "", "persistentvolumes", "", "", "pv-data"), authorizer.Allow, ""},
		{"volume of another node's claim", res("get", "", "persistentvolumes", "", "", "pv-db"), authorizer.NoOpinion, noRel},
		{"unbound volume", res("get", "", "persistentvolumes", "", "", "pv-free"), authorizer.NoOpinion, noRel},
		{"volume's node secret", res("get", "", "secrets", "", "storage", "pv-s"), authorizer.Allow, ""},
		{"volume's secret in the claim's namespace", res("get", "", "secrets", "", "team", "stage-s"), authorizer.Allow, ""},
		{"volume's controller secret", res("get", "", "secrets", "", "storage", "ctrl-s"), authorizer.NoOpinion, noRel},
		{"unbound volume's secret", res("get", "", "secrets", "", "storage", "free-s"), authorizer.NoOpinion, noRel},
		{"volume attachment", res("get", "storage.k8s.io", "volumeattachments", "", "", "va"), authorizer.NoOpinion, noRel},

		// Tokens.
		{"token for its pod's account", res("create", "", "serviceaccounts", "token", "team", "web-sa"), authorizer.Allow, ""},
		{"token for another node's account", res("create", "", "serviceaccounts", "token", "team", "db-sa"), authorizer.NoOpinion, noRel},
		{"reading an account", res("get", "", "serviceaccounts", "", "team", "web-sa"), authorizer.NoOpinion, "can only create tokens for individual service accounts"},
		{"another subresource", res("create", "", "serviceaccounts", "impersonate", "team", "web-sa"), authorizer.NoOpinion, "can only create token subresource of serviceaccount"},

		// Its own Node and lease.
		{"own node", res("get", "", "nodes", "", "", "n1"), authorizer.Allow, ""},
		{"own node watched by name", res("watch", "", "nodes", "", "", "n1"), authorizer.Allow, ""},
		{"another node", res("get", "", "nodes", "", "", "n2"), authorizer.NoOpinion, "node 'n1' cannot read 'n2', only its own Node object"},
		{"all nodes", res("list", "", "nodes", "", "", ""), authorizer.NoOpinion, "node 'n1' cannot read all nodes, only its own Node object"},
		{"registering", res("create", "", "nodes", "", "", ""), authorizer.Allow, ""},
		{"patching itself", res("patch", "", "nodes", "", "", "n1"), authorizer.Allow, ""},
		{"patching another", res("patch", "", "nodes", "", "", "n2"), authorizer.NoOpinion, "node 'n1' cannot modify 'n2', only its own Node object"},
		{"own status", res("update", "", "nodes", "status", "", "n1"), authorizer.Allow, ""},
		{"another's status", res("patch", "", "nodes", "status", "", "n2"), authorizer.NoOpinion, "node 'n1' cannot modify 'n2', only its own Node object"},
		{"deleting itself", res("delete", "", "nodes", "", "", "n1"), authorizer.NoOpinion, ""},
		{"own lease", res("update", "coordination.k8s.io", "leases", "", "kube-node-lease", "n1"), authorizer.Allow, ""},
		{"creating a lease", res("create", "coordination.k8s.io", "leases", "", "kube-node-lease", ""), authorizer.Allow, ""},
		{"another node's lease", res("get", "coordination.k8s.io", "leases", "", "kube-node-lease", "n2"), authorizer.NoOpinion, "can only access node lease with the same name as the requesting node"},
		{"a lease elsewhere", res("get", "coordination.k8s.io", "leases", "", "kube-system", "n1"), authorizer.NoOpinion, `can only access leases in the "kube-node-lease" system namespace`},
		{"listing leases", res("list", "coordination.k8s.io", "leases", "", "kube-node-lease", ""), authorizer.NoOpinion, "can only get, create, update, patch, or delete a node lease"},
		{"own CSINode", res("update", "storage.k8s.io", "csinodes", "", "", "n1"), authorizer.Allow, ""},
		{"another CSINode", res("get", "storage.k8s.io", "csinodes", "", "", "n2"), authorizer.NoOpinion, "can only access CSINode with the same name as the requesting node"},

		// The rest, from the system:node rules.
		{"watching its pods", withSelector(res("watch", "", "pods", "", "", ""), "spec.nodeName", "n1"), authorizer.Allow, ""},
		{"watching all pods", res("watch", "", "pods", "", "", ""), authorizer.NoOpinion, "can only list/watch pods with spec.nodeName field selector"},
		{"listing another node's pods", withSelector(res("list", "", "pods", "", "", ""), "spec.nodeName", "n2"), authorizer.NoOpinion, "can only list/watch pods with spec.nodeName field selector"},
		{"getting a pod", res("get", "", "pods", "", "team", "web"), authorizer.Allow, ""},
		{"pod status", res("patch", "", "pods", "status", "team", "web"), authorizer.Allow, ""},
		{"mirror pod", res("create", "", "pods", "", "team", ""), authorizer.Allow, ""},
		{"eviction", res("create", "", "pods", "eviction", "team", "web"), authorizer.Allow, ""},
		{"events", res("create", "", "events", "", "team", ""), authorizer.Allow, ""},
		{"services", res("list", "", "services", "", "", ""), authorizer.Allow, ""},
		{"certificate requests", res("create", "certificates.k8s.io", "certificatesigningrequests", "", "", ""), authorizer.Allow, ""},
		{"pod exec", res("create", "", "pods", "exec", "team", "web"), authorizer.NoOpinion, ""},
		{"deployments", res("delete", "apps", "deployments", "", "team", "x"), authorizer.NoOpinion, ""},
		{"non-resource path", authorizer.Attributes{User: n1, Verb: "get", Path: "/healthz"}, authorizer.NoOpinion, ""},

		// Who counts as a node.
		{"not a node", as(user.Info{Name: "alice", Groups: []string{user.AllAuthenticated}}, res("get", "", "secrets", "", "team", "tls")), authorizer.NoOpinion, ""},
		{"node name outside the group", as(user.Info{Name: "system:node:n1"}, res("get", "", "secrets", "", "team", "tls")), authorizer.NoOpinion, ""},
		{"group member without a node name", as(user.Info{Name: "kubelet", Groups: []string{user.NodesGroup}}, res("list", "", "pods", "", "", "")), authorizer.NoOpinion, ""},
		{"empty node name", as(user.Info{Name: "system:node:", Groups: []string{user.NodesGroup}}, res("list", "", "pods", "", "", "")), authorizer.NoOpinion, `unknown node for user "system:node:"`},
		{"other node", as(user.Info{Name: "system:node:n2", Groups: []string{user.NodesGroup}}, res("get", "", "secrets", "", "team", "db-s")), authorizer.Allow, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d, reason, err := z.Authorize(context.Background(), tc.attrs)
			if err != nil {
				t.Fatal(err)
			}
			if d != tc.want {
				t.Errorf("decision %v (%q), want %v", d, reason, tc.want)
			}
			if tc.reason != "" && reason != tc.reason {
				t.Errorf("reason %q, want %q", reason, tc.reason)
			}
		})
	}
}

// TestInformerEvents follows a pod through binding, an ephemeral
// container, a move to another node (a recreation under the same name)
// and deletion, and a volume through losing its claim.
func TestInformerEvents(t *testing.T) {
	ctx := context.Background()
	p := pod("team", "job", "", corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Env: secretEnv("job-s")}},
		Volumes: []corev1.Volume{{Name: "d", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "job-data"}}}}})
	pv := &corev1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: "pv-job"}, Spec: corev1.PersistentVolumeSpec{
		ClaimRef: &corev1.ObjectReference{Namespace: "team", Name: "job-data"},
		PersistentVolumeSource: corev1.PersistentVolumeSource{ISCSI: &corev1.ISCSIPersistentVolumeSource{
			SecretRef: &corev1.SecretReference{Name: "iscsi-s"},
		}},
	}}
	z, client := start(t, p, pv)
	pods := client.CoreV1().Pods("team")
	allowed := func(a authorizer.Attributes) bool {
		d, _, _ := z.Authorize(ctx, a)
		return d == authorizer.Allow
	}
	eventually := func(what string, a authorizer.Attributes, want bool) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for allowed(a) != want {
			if time.Now().After(deadline) {
				t.Fatalf("%s: allowed stayed %v", what, !want)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	secret := res("get", "", "secrets", "", "team", "job-s")
	debug := res("get", "", "secrets", "", "team", "debug-s")
	volume := res("get", "", "persistentvolumes", "", "", "pv-job")
	volumeSecret := res("get", "", "secrets", "", "team", "iscsi-s")
	if allowed(secret) || allowed(volume) {
		t.Fatal("an unbound pod's objects are allowed")
	}

	p.Spec.NodeName = "n1"
	if _, err := pods.Update(ctx, p, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually("bound", secret, true)
	eventually("bound volume", volume, true)
	eventually("bound volume secret", volumeSecret, true)

	p.Status.Phase = corev1.PodRunning // a status update changes no references
	p.Spec.EphemeralContainers = []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: "dbg", Env: secretEnv("debug-s")}}}
	if _, err := pods.Update(ctx, p, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually("ephemeral container", debug, true)

	if err := pods.Delete(ctx, "job", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually("deleted", secret, false)
	eventually("deleted volume", volume, false)
	eventually("deleted volume secret", volumeSecret, false)

	p2 := pod("team", "job", "n2", p.Spec)
	p2.UID = "second"
	if _, err := pods.Create(ctx, p2, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	n2 := user.Info{Name: "system:node:n2", Groups: []string{user.NodesGroup}}
	eventually("recreated on n2", as(n2, secret), true)
	if allowed(secret) {
		t.Error("n1 still reads the secret of a pod now on n2")
	}

	pv.Spec.ClaimRef = nil
	if _, err := client.CoreV1().PersistentVolumes().Update(ctx, pv, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually("released volume", as(n2, volume), false)
	eventually("released volume secret", as(n2, volumeSecret), false)
	if err := client.CoreV1().PersistentVolumes().Delete(ctx, "pv-job", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := pods.Delete(ctx, "job", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for !z.idx.empty() {
		if time.Now().After(deadline) {
			t.Fatal("index not empty after every object went")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestWithRBAC checks the node authorizer and the default RBAC policy
// together, as the API server chains them: the node reaches what its
// pods use and what the proxy role gives every node, and nothing more.
func TestWithRBAC(t *testing.T) {
	objs := fixture()
	for _, r := range rbac.DefaultClusterRoles() {
		objs = append(objs, r)
	}
	for _, b := range rbac.DefaultClusterRoleBindings() {
		objs = append(objs, b)
	}
	client := fake.NewSimpleClientset(objs...)
	f := informers.NewSharedInformerFactory(client, 0)
	nz := New(f)
	rz := rbac.NewFromInformers(f)
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); f.Shutdown() }()
	f.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), nz.HasSynced, rz.HasSynced) {
		t.Fatal("not synced")
	}
	chain := authorizer.Union(authorizer.Privileged, nz, rz)
	cases := []struct {
		name  string
		attrs authorizer.Attributes
		allow bool
	}{
		{"its pod's secret", res("get", "", "secrets", "", "team", "tls"), true},
		{"another pod's secret", res("get", "", "secrets", "", "team", "db-s"), false},
		{"all secrets", res("list", "", "secrets", "", "", ""), false},
		{"its status", res("patch", "", "nodes", "status", "", "n1"), true},
		{"another node's status", res("patch", "", "nodes", "status", "", "n2"), false},
		{"endpoint slices for the proxy", res("watch", "discovery.k8s.io", "endpointslices", "", "", ""), true},
		{"all nodes for the proxy", res("list", "", "nodes", "", "", ""), true},
		{"its pods", withSelector(res("watch", "", "pods", "", "", ""), "spec.nodeName", "n1"), true},
		{"every pod", res("watch", "", "pods", "", "", ""), false},
		{"no deployments", res("create", "apps", "deployments", "", "team", ""), false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d, reason, err := chain.Authorize(ctx, tc.attrs)
			if err != nil {
				t.Fatal(err)
			}
			if (d == authorizer.Allow) != tc.allow {
				t.Errorf("decision %v (%q), want allow=%v", d, reason, tc.allow)
			}
			if d != authorizer.Allow && tc.attrs.Resource == "secrets" && tc.attrs.Name != "" && !strings.Contains(reason, noRel) {
				t.Errorf("refusal reason %q does not say why", reason)
			}
		})
	}
}

func TestIdentity(t *testing.T) {
	cases := []struct {
		name     string
		user     user.Info
		wantName string
		wantOK   bool
	}{
		{"node", user.Info{Name: "system:node:a.b", Groups: []string{user.NodesGroup}}, "a.b", true},
		{"no group", user.Info{Name: "system:node:a"}, "", false},
		{"no prefix", user.Info{Name: "a", Groups: []string{user.NodesGroup}}, "", false},
		{"empty name", user.Info{Name: "system:node:", Groups: []string{user.NodesGroup}}, "", true},
		{"service account", user.Info{Name: "system:serviceaccount:kube-system:node", Groups: []string{user.ServiceAccountsGroup}}, "", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			name, ok := Identity(tc.user)
			if name != tc.wantName || ok != tc.wantOK {
				t.Errorf("got %q %v, want %q %v", name, ok, tc.wantName, tc.wantOK)
			}
		})
	}
}

func TestRulesFor(t *testing.T) {
	z := &Authorizer{idx: newIndex()}
	if _, _, incomplete, err := z.RulesFor(context.Background(), n1, "team"); !incomplete || !errors.Is(err, ErrNoRuleList) {
		t.Errorf("node: incomplete=%v err=%v", incomplete, err)
	}
	if r, nr, incomplete, err := z.RulesFor(context.Background(), user.Info{Name: "alice"}, "team"); r != nil || nr != nil || incomplete || err != nil {
		t.Errorf("other user: %v %v %v %v", r, nr, incomplete, err)
	}
}

// withSelector adds the field selector field=value to a.
func withSelector(a authorizer.Attributes, field, value string) authorizer.Attributes {
	a.FieldSelector = fields.Requirements{{Field: field, Operator: selection.Equals, Value: value}}
	return a
}
