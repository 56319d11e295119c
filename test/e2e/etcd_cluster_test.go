package e2e

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
)

// etcdMember is one member of an in-process etcd cluster.
type etcdMember struct {
	name      string
	clientURL string
	etcd      *embed.Etcd
	stopOnce  sync.Once
}

// stop closes the member; it may be called more than once.
func (m *etcdMember) stop() { m.stopOnce.Do(m.etcd.Close) }

func (m *etcdMember) isLeader() bool {
	return m.etcd.Server.Leader() == m.etcd.Server.MemberID()
}

// startEtcdCluster runs an n-member etcd cluster inside the test process
// on free loopback ports, each member in its own temporary directory.
func startEtcdCluster(t *testing.T, n int) []*etcdMember {
	t.Helper()
	ports := freePorts(t, 2*n)
	token := fmt.Sprintf("e2e-%d", time.Now().UnixNano())
	var initial []string
	for i := range n {
		initial = append(initial, fmt.Sprintf("m%d=http://127.0.0.1:%d", i, ports[2*i+1]))
	}
	members := make([]*etcdMember, n)
	for i := range n {
		peer := url.URL{Scheme: "http", Host: fmt.Sprintf("127.0.0.1:%d", ports[2*i+1])}
		client := url.URL{Scheme: "http", Host: fmt.Sprintf("127.0.0.1:%d", ports[2*i])}
		cfg := embed.NewConfig()
		cfg.Name = fmt.Sprintf("m%d", i)
		cfg.Dir = t.TempDir()
		cfg.LogLevel = "error"
		cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zap.NewNop())
		cfg.ListenPeerUrls = []url.URL{peer}
		cfg.AdvertisePeerUrls = []url.URL{peer}
		cfg.ListenClientUrls = []url.URL{client}
		cfg.AdvertiseClientUrls = []url.URL{client}
		cfg.InitialCluster = strings.Join(initial, ",")
		cfg.InitialClusterToken = token
		cfg.ClusterState = embed.ClusterStateFlagNew
		// Short enough for a quick re-election, long enough not to flap
		// on two busy cores.
		cfg.TickMs = 50
		cfg.ElectionMs = 500
		e, err := embed.StartEtcd(cfg)
		if err != nil {
			t.Fatalf("etcd member %s: %v", cfg.Name, err)
		}
		m := &etcdMember{name: cfg.Name, clientURL: client.String(), etcd: e}
		members[i] = m
		t.Cleanup(m.stop)
	}
	for _, m := range members {
		select {
		case <-m.etcd.Server.ReadyNotify():
		case err := <-m.etcd.Err():
			t.Fatalf("etcd member %s: %v", m.name, err)
		case <-time.After(30 * time.Second):
			t.Fatalf("etcd member %s not ready after 30s", m.name)
		}
	}
	return members
}

// TestExternalEtcdCluster runs two servers on one three-member etcd cluster:
// they share objects and watches, survive losing the etcd leader, and report
// not ready (while staying live) once quorum is lost.
func TestExternalEtcdCluster(t *testing.T) {
	members := startEtcdCluster(t, 3)
	var endpoints []string
	for _, m := range members {
		endpoints = append(endpoints, m.clientURL)
	}
	// Servers sharing a cluster's etcd share its Secrets' encryption key.
	keyFile := filepath.Join(t.TempDir(), "secrets.key")
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, []byte("shared:"+base64.StdEncoding.EncodeToString(key)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	etcdFlag := []string{"--etcd-endpoints", strings.Join(endpoints, ","), "--secrets-encryption-key-file", keyFile}
	a := startServer(t, serverOptions{args: etcdFlag})
	b := startServer(t, serverOptions{args: etcdFlag})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	t.Run("shared objects", func(t *testing.T) {
		if _, err := createConfigMap(ctx, a.client, "made-on-a"); err != nil {
			t.Fatalf("create on A: %v", err)
		}
		got, err := b.client.CoreV1().ConfigMaps("default").Get(ctx, "made-on-a", metav1.GetOptions{})
		if err != nil {
			t.Fatalf("get on B what A created: %v", err)
		}
		if got.Data["made"] != "made-on-a" {
			t.Errorf("B sees data %v", got.Data)
		}
	})

	t.Run("watch on B sees writes on A", func(t *testing.T) {
		w, err := b.client.CoreV1().ConfigMaps("default").Watch(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		defer w.Stop()
		// The watch first replays what exists; awaitEvent skips past it.
		if _, err := createConfigMap(ctx, a.client, "watched-on-b"); err != nil {
			t.Fatalf("create on A: %v", err)
		}
		awaitEvent(t, w.ResultChan(), watch.Added, "watched-on-b", 10*time.Second)
	})

	t.Run("embedded etcd does not interfere", func(t *testing.T) {
		// Hold etcd's well-known ports if they are free: a normal start
		// must not need them.
		for _, port := range []string{"2379", "2380"} {
			if l, err := net.Listen("tcp", "127.0.0.1:"+port); err == nil {
				defer l.Close()
			}
		}
		c := startServer(t, serverOptions{})
		if _, err := c.client.CoreV1().ConfigMaps("default").Get(ctx, "made-on-a", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("a server on its embedded etcd sees the external cluster's object (err %v)", err)
		}
		if _, err := createConfigMap(ctx, c.client, "made-on-c"); err != nil {
			t.Fatalf("create on the embedded-etcd server: %v", err)
		}
		if _, err := a.client.CoreV1().ConfigMaps("default").Get(ctx, "made-on-c", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("the external cluster sees the embedded server's object (err %v)", err)
		}
		c.stop(t)
		// The external cluster is untouched.
		if _, err := createConfigMap(ctx, a.client, "after-embedded"); err != nil {
			t.Errorf("create on A after the embedded server ran: %v", err)
		}
	})

	t.Run("leader loss", func(t *testing.T) {
		leader := -1
		for i, m := range members {
			if m.isLeader() {
				leader = i
			}
		}
		if leader < 0 {
			t.Fatal("no etcd member is leader")
		}
		began := time.Now()
		members[leader].stop()
		t.Logf("stopped leader %s in %v", members[leader].name, time.Since(began).Round(time.Millisecond))
		for _, s := range []struct {
			name string
			p    *bosunProcess
		}{{"A", a}, {"B", b}} {
			name := "after-leader-loss-" + strings.ToLower(s.name)
			began := time.Now()
			err := eventually(30*time.Second, 200*time.Millisecond, func() error {
				_, err := createConfigMap(ctx, s.p.client, name)
				if apierrors.IsAlreadyExists(err) {
					return nil // an earlier try went through
				}
				return err
			})
			if err != nil {
				t.Errorf("write through %s after the etcd leader stopped: %v", s.name, err)
				continue
			}
			t.Logf("write through %s succeeded %v after the leader stopped", s.name, time.Since(began).Round(time.Millisecond))
		}
		// Each server sees the other's write.
		for _, name := range []string{"after-leader-loss-a", "after-leader-loss-b"} {
			if _, err := a.client.CoreV1().ConfigMaps("default").Get(ctx, name, metav1.GetOptions{}); err != nil {
				t.Errorf("A: get %s: %v", name, err)
			}
			if _, err := b.client.CoreV1().ConfigMaps("default").Get(ctx, name, metav1.GetOptions{}); err != nil {
				t.Errorf("B: get %s: %v", name, err)
			}
		}
	})

	t.Run("quorum loss", func(t *testing.T) {
		// Stop members until one is left (the leader-loss step stopped one).
		running := 0
		for _, m := range members {
			if !m.isStopped() {
				running++
			}
		}
		// A follower stops at once; a leader first tries to hand over.
		for _, m := range members {
			if running > 1 && !m.isStopped() && !m.isLeader() {
				began := time.Now()
				m.stop()
				running--
				t.Logf("stopped %s in %v", m.name, time.Since(began).Round(time.Millisecond))
			}
		}
		hc := insecureClient(5 * time.Second)
		defer hc.CloseIdleConnections()
		began := time.Now()
		var last string
		err := eventually(10*time.Second, 200*time.Millisecond, func() error {
			code, body, err := get(hc, a.url+"/readyz")
			if err != nil {
				return err
			}
			last = fmt.Sprintf("%d %s", code, body)
			if code != http.StatusServiceUnavailable {
				return fmt.Errorf("/readyz: %s", last)
			}
			return nil
		})
		if err != nil {
			t.Fatalf("/readyz on A did not answer 503 within ~10s of quorum loss: %v", err)
		}
		t.Logf("/readyz on A answered %q %v after quorum loss", last, time.Since(began).Round(time.Millisecond))
		if code, body, err := get(hc, a.url+"/livez"); err != nil || code != http.StatusOK {
			t.Errorf("/livez on A without quorum: %d %q %v, want 200", code, body, err)
		}
		// Without quorum a server still shuts down cleanly.
		b.stop(t)
	})
}

func (m *etcdMember) isStopped() bool {
	select {
	case <-m.etcd.Server.StopNotify():
		return true
	default:
		return false
	}
}

// createConfigMap creates a small ConfigMap in the default namespace.
func createConfigMap(ctx context.Context, c kubernetes.Interface, name string) (*corev1.ConfigMap, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return c.CoreV1().ConfigMaps("default").Create(ctx, &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Data:       map[string]string{"made": name},
	}, metav1.CreateOptions{})
}
