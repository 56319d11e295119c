package statefulset

import (
	"reflect"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bosun-sh/bosun/internal/controller/history"
)

func stsClaimSet(policy appsv1.PersistentVolumeClaimRetentionPolicyType) *appsv1.StatefulSet {
	return stsSet(2, func(s *appsv1.StatefulSet) {
		s.Spec.ServiceName = "web-svc"
		s.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}
		s.Spec.Template = corev1.PodTemplateSpec{
			ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
			Spec: corev1.PodSpec{
				Containers: []corev1.Container{{Name: "c", Image: "busybox:1"}},
				Volumes:    []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}},
			},
		}
		s.Spec.VolumeClaimTemplates = []corev1.PersistentVolumeClaim{
			{ObjectMeta: metav1.ObjectMeta{Name: "data", Labels: map[string]string{"tier": "db"}}},
			{ObjectMeta: metav1.ObjectMeta{Name: "logs"}},
		}
		s.Spec.PersistentVolumeClaimRetentionPolicy = &appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy{WhenDeleted: policy, WhenScaled: policy}
	})
}

func TestNewPod(t *testing.T) {
	set := stsClaimSet(appsv1.RetainPersistentVolumeClaimRetentionPolicyType)
	p := newPod(set, &set.Spec.Template, 1, "web-abc")
	if p.Name != "web-1" || p.GenerateName != "" || p.Spec.Hostname != "web-1" || p.Spec.Subdomain != "web-svc" {
		t.Errorf("identity: name %q generateName %q hostname %q subdomain %q", p.Name, p.GenerateName, p.Spec.Hostname, p.Spec.Subdomain)
	}
	wantLabels := map[string]string{"app": "web", podNameLabel: "web-1", podIndexLabel: "1", history.HashLabel: "web-abc"}
	if !reflect.DeepEqual(p.Labels, wantLabels) {
		t.Errorf("labels %v, want %v", p.Labels, wantLabels)
	}
	if ref := metav1.GetControllerOf(p); ref == nil || ref.UID != set.UID || ref.Kind != "StatefulSet" {
		t.Errorf("controller ref %+v", ref)
	}
	claims := map[string]string{}
	for _, v := range p.Spec.Volumes {
		if v.PersistentVolumeClaim == nil {
			t.Errorf("volume %s is not a claim", v.Name)
			continue
		}
		claims[v.Name] = v.PersistentVolumeClaim.ClaimName
	}
	if want := map[string]string{"data": "data-web-1", "logs": "logs-web-1"}; !reflect.DeepEqual(claims, want) {
		t.Errorf("claim volumes %v, want %v", claims, want)
	}
	if set.Spec.Template.Spec.Volumes[0].EmptyDir == nil || set.Spec.Template.Labels[podNameLabel] != "" {
		t.Error("newPod changed the set's template")
	}
}

func TestNewClaims(t *testing.T) {
	for _, tc := range []struct {
		policy appsv1.PersistentVolumeClaimRetentionPolicyType
		owned  bool
	}{
		{appsv1.RetainPersistentVolumeClaimRetentionPolicyType, false},
		{appsv1.DeletePersistentVolumeClaimRetentionPolicyType, true},
	} {
		t.Run(string(tc.policy), func(t *testing.T) {
			claims := newClaims(stsClaimSet(tc.policy), 0)
			if len(claims) != 2 || claims[0].Name != "data-web-0" || claims[1].Name != "logs-web-0" {
				t.Fatalf("claims %v", claims)
			}
			if want := map[string]string{"app": "web", "tier": "db"}; !reflect.DeepEqual(claims[0].Labels, want) {
				t.Errorf("labels %v, want %v", claims[0].Labels, want)
			}
			if owned := metav1.GetControllerOf(claims[0]) != nil; owned != tc.owned {
				t.Errorf("owned by the set: %v, want %v", owned, tc.owned)
			}
		})
	}
}

// The template of a revision is what history.Data recorded.
func TestTemplateOfRevision(t *testing.T) {
	set := stsClaimSet(appsv1.RetainPersistentVolumeClaimRetentionPolicyType)
	data, err := history.Data(&set.Spec.Template)
	if err != nil {
		t.Fatal(err)
	}
	got, err := templateOf(data)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, &set.Spec.Template) {
		t.Errorf("template back from revision:\n got %+v\nwant %+v", got, set.Spec.Template)
	}
	for _, bad := range []string{``, `{}`, `{"spec":{}}`, `{"spec":{"template":7}}`} {
		if _, err := templateOf([]byte(bad)); err == nil {
			t.Errorf("templateOf(%q): no error", bad)
		}
	}
}

func FuzzTemplateOf(f *testing.F) {
	f.Add([]byte(`{"spec":{"template":{"$patch":"replace","metadata":{"labels":{"a":"b"}},"spec":{"containers":[{"name":"c","image":"i"}]}}}}`))
	f.Add([]byte(`{"spec":{"template":null}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		tmpl, err := templateOf(data)
		if err == nil && tmpl == nil {
			t.Fatal("no template and no error")
		}
	})
}
