package registry

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func TestStorageClass(t *testing.T) {
	k := storageClasses()
	sc := &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: "fast"}, Provisioner: "ebs.csi.aws.com",
		Parameters: map[string]string{"type": "gp3"}}
	groupsWantFields(t, groupsCreate(k, sc))
	if *sc.ReclaimPolicy != corev1.PersistentVolumeReclaimDelete || *sc.VolumeBindingMode != storagev1.VolumeBindingImmediate {
		t.Errorf("defaults = %+v", sc)
	}
	if row := k.Row(sc); row[0] != "fast" || row[2] != "Delete" || row[3] != "Immediate" || row[4] != false {
		t.Errorf("row = %v", row)
	}
	sc.Annotations = map[string]string{"storageclass.kubernetes.io/is-default-class": "true"}
	if row := k.Row(sc); row[0] != "fast (default)" {
		t.Errorf("NAME = %v", row[0])
	}

	changed := sc.DeepCopy()
	changed.Parameters["type"] = "io2"
	changed.Provisioner = "example.com/other"
	changed.ReclaimPolicy = new(corev1.PersistentVolumeReclaimRetain)
	changed.VolumeBindingMode = new(storagev1.VolumeBindingWaitForFirstConsumer)
	changed.AllowVolumeExpansion = new(true)
	groupsWantFields(t, k.Validate(changed, sc), "parameters", "provisioner", "reclaimPolicy", "volumeBindingMode")

	bad := &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: "bad"},
		ReclaimPolicy: new(corev1.PersistentVolumeReclaimRecycle), VolumeBindingMode: new(storagev1.VolumeBindingMode("Later"))}
	groupsWantFields(t, groupsCreate(k, bad), "provisioner", "reclaimPolicy", "volumeBindingMode")
}

func TestPodDisruptionBudget(t *testing.T) {
	k := podDisruptionBudgets()
	cases := []struct {
		name     string
		min, max *intstr.IntOrString
		want     []string
	}{
		{"min", new(intstr.FromInt32(2)), nil, nil},
		{"max percent", nil, new(intstr.FromString("25%")), nil},
		{"both", new(intstr.FromInt32(2)), new(intstr.FromInt32(1)), []string{"spec"}},
		{"neither", nil, nil, []string{"spec.minAvailable"}},
		{"negative", new(intstr.FromInt32(-1)), nil, []string{"spec.minAvailable"}},
		{"over 100%", nil, new(intstr.FromString("120%")), []string{"spec.maxUnavailable"}},
		{"not a percent", nil, new(intstr.FromString("half")), []string{"spec.maxUnavailable"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pdb := &policyv1.PodDisruptionBudget{ObjectMeta: groupsMeta("pdb"), Spec: policyv1.PodDisruptionBudgetSpec{
				MinAvailable: tc.min, MaxUnavailable: tc.max, Selector: groupsSelector()}}
			groupsWantFields(t, groupsCreate(k, pdb), tc.want...)
		})
	}
	pdb := &policyv1.PodDisruptionBudget{ObjectMeta: groupsMeta("pdb"), Spec: policyv1.PodDisruptionBudgetSpec{
		MaxUnavailable: new(intstr.FromInt32(1))}, Status: policyv1.PodDisruptionBudgetStatus{DisruptionsAllowed: 1}}
	if row := k.Row(pdb); row[1] != "N/A" || row[2] != "1" || row[3] != int64(1) {
		t.Errorf("row = %v", row)
	}
}

func TestPriorityClass(t *testing.T) {
	k := priorityClasses()
	cases := []struct {
		name string
		pc   schedulingv1.PriorityClass
		want []string
	}{
		{"user", schedulingv1.PriorityClass{ObjectMeta: metav1.ObjectMeta{Name: "high"}, Value: 1000000000}, nil},
		{"too high", schedulingv1.PriorityClass{ObjectMeta: metav1.ObjectMeta{Name: "high"}, Value: 1000000001}, []string{"value"}},
		{"system", schedulingv1.PriorityClass{ObjectMeta: metav1.ObjectMeta{Name: "system-node-critical"}, Value: 2000001000}, nil},
		{"reserved prefix", schedulingv1.PriorityClass{ObjectMeta: metav1.ObjectMeta{Name: "system-mine"}, Value: 10}, []string{"metadata.name"}},
		{"system wrong value", schedulingv1.PriorityClass{ObjectMeta: metav1.ObjectMeta{Name: "system-cluster-critical"}, Value: 10}, []string{"value"}},
		{"bad policy", schedulingv1.PriorityClass{ObjectMeta: metav1.ObjectMeta{Name: "p"},
			PreemptionPolicy: new(corev1.PreemptionPolicy("Always"))}, []string{"preemptionPolicy"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			groupsWantFields(t, groupsCreate(k, &tc.pc), tc.want...)
		})
	}

	pc := &schedulingv1.PriorityClass{ObjectMeta: metav1.ObjectMeta{Name: "high"}, Value: 100, Description: "x"}
	groupsWantFields(t, groupsCreate(k, pc))
	if *pc.PreemptionPolicy != corev1.PreemptLowerPriority {
		t.Errorf("preemptionPolicy = %v", *pc.PreemptionPolicy)
	}
	if row := k.Row(pc); row[1] != int64(100) || row[2] != false || row[4] != "PreemptLowerPriority" {
		t.Errorf("row = %v", row)
	}
	changed := pc.DeepCopy()
	changed.Value = 200
	changed.PreemptionPolicy = new(corev1.PreemptNever)
	changed.Description = strings.ToUpper(pc.Description)
	groupsWantFields(t, k.Validate(changed, pc), "preemptionPolicy", "value")
}
