package registry

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func newHPA() *autoscalingv2.HorizontalPodAutoscaler {
	return &autoscalingv2.HorizontalPodAutoscaler{ObjectMeta: groupsMeta("web"), Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
		MaxReplicas:    5,
		ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "web"}}}
}

func TestHPADefaults(t *testing.T) {
	h := newHPA()
	defaultHPA(h)
	if *h.Spec.MinReplicas != 1 || !reflect.DeepEqual(h.Spec.Metrics, []autoscalingv2.MetricSpec{cpuUtilizationMetric(80)}) {
		t.Errorf("spec = %+v", h.Spec)
	}
	if h.Spec.Behavior != nil {
		t.Errorf("behavior = %+v, want nil", h.Spec.Behavior)
	}

	h = newHPA()
	h.Spec.Behavior = &autoscalingv2.HorizontalPodAutoscalerBehavior{
		ScaleDown: &autoscalingv2.HPAScalingRules{StabilizationWindowSeconds: new(int32(60))}}
	defaultHPA(h)
	up, down := h.Spec.Behavior.ScaleUp, h.Spec.Behavior.ScaleDown
	wantUp := &autoscalingv2.HPAScalingRules{
		StabilizationWindowSeconds: new(int32(0)), SelectPolicy: new(autoscalingv2.MaxChangePolicySelect),
		Policies: []autoscalingv2.HPAScalingPolicy{{Type: "Pods", Value: 4, PeriodSeconds: 15}, {Type: "Percent", Value: 100, PeriodSeconds: 15}}}
	if !reflect.DeepEqual(up, wantUp) {
		t.Errorf("scaleUp = %+v", up)
	}
	wantDown := &autoscalingv2.HPAScalingRules{
		StabilizationWindowSeconds: new(int32(60)), SelectPolicy: new(autoscalingv2.MaxChangePolicySelect),
		Policies: []autoscalingv2.HPAScalingPolicy{{Type: "Percent", Value: 100, PeriodSeconds: 15}}}
	if !reflect.DeepEqual(down, wantDown) {
		t.Errorf("scaleDown = %+v", down)
	}
	h2 := &autoscalingv2.HorizontalPodAutoscaler{Spec: autoscalingv2.HorizontalPodAutoscalerSpec{Behavior: &autoscalingv2.HorizontalPodAutoscalerBehavior{}}}
	defaultHPA(h2)
	if h2.Spec.Behavior.ScaleDown.StabilizationWindowSeconds != nil {
		t.Errorf("scaleDown stabilization defaulted to %d, want nil", *h2.Spec.Behavior.ScaleDown.StabilizationWindowSeconds)
	}
}

func TestHPAValidation(t *testing.T) {
	q := resource.MustParse("100m")
	cases := []struct {
		name   string
		mutate func(h *autoscalingv2.HorizontalPodAutoscaler)
		want   []string
	}{
		{"valid", func(h *autoscalingv2.HorizontalPodAutoscaler) {}, nil},
		{"no target", func(h *autoscalingv2.HorizontalPodAutoscaler) {
			h.Spec.ScaleTargetRef = autoscalingv2.CrossVersionObjectReference{}
		}, []string{"spec.scaleTargetRef.kind", "spec.scaleTargetRef.name"}},
		{"min above max", func(h *autoscalingv2.HorizontalPodAutoscaler) { h.Spec.MinReplicas = new(int32(6)) },
			[]string{"spec.maxReplicas"}},
		{"min zero", func(h *autoscalingv2.HorizontalPodAutoscaler) { h.Spec.MinReplicas = new(int32(0)) },
			[]string{"spec.minReplicas"}},
		{"max zero", func(h *autoscalingv2.HorizontalPodAutoscaler) { h.Spec.MaxReplicas = 0 }, []string{"spec.maxReplicas"}},
		{"utilization zero", func(h *autoscalingv2.HorizontalPodAutoscaler) {
			h.Spec.Metrics = []autoscalingv2.MetricSpec{cpuUtilizationMetric(0)}
		},
			[]string{"spec.metrics[0].resource.target.averageUtilization"}},
		{"resource by value", func(h *autoscalingv2.HorizontalPodAutoscaler) {
			h.Spec.Metrics = []autoscalingv2.MetricSpec{{Type: "Resource", Resource: &autoscalingv2.ResourceMetricSource{
				Name: "memory", Target: autoscalingv2.MetricTarget{Type: "Value", Value: &q}}}}
		}, []string{"spec.metrics[0].resource.target.type"}},
		{"pods without name", func(h *autoscalingv2.HorizontalPodAutoscaler) {
			h.Spec.Metrics = []autoscalingv2.MetricSpec{{Type: "Pods", Pods: &autoscalingv2.PodsMetricSource{
				Target: autoscalingv2.MetricTarget{Type: "AverageValue", AverageValue: &q}}}}
		}, []string{"spec.metrics[0].pods.metric.name"}},
		{"type without source", func(h *autoscalingv2.HorizontalPodAutoscaler) {
			h.Spec.Metrics = []autoscalingv2.MetricSpec{{Type: "External"}}
		}, []string{"spec.metrics[0].external"}},
		{"bad behavior", func(h *autoscalingv2.HorizontalPodAutoscaler) {
			h.Spec.Behavior = &autoscalingv2.HorizontalPodAutoscalerBehavior{ScaleUp: &autoscalingv2.HPAScalingRules{
				StabilizationWindowSeconds: new(int32(4000)), SelectPolicy: new(autoscalingv2.ScalingPolicySelect("Avg")),
				Policies: []autoscalingv2.HPAScalingPolicy{{Type: "Nodes", Value: 0, PeriodSeconds: 2000}}}}
		}, []string{"spec.behavior.scaleUp.policies[0].periodSeconds", "spec.behavior.scaleUp.policies[0].type",
			"spec.behavior.scaleUp.policies[0].value", "spec.behavior.scaleUp.selectPolicy", "spec.behavior.scaleUp.stabilizationWindowSeconds"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHPA()
			tc.mutate(h)
			groupsWantFields(t, groupsCreate(horizontalPodAutoscalersV2(), h), tc.want...)
		})
	}
}

func TestHPARow(t *testing.T) {
	h := newHPA()
	defaultHPA(h)
	row := hpaRow(h)
	want := []any{"web", "Deployment/web", "cpu: <unknown>/80%", int64(1), int64(5), int64(0)}
	for i := range want {
		if row[i] != want[i] {
			t.Errorf("cell %d = %v, want %v", i, row[i], want[i])
		}
	}
	q := resource.MustParse("10")
	h.Spec.Metrics = append(h.Spec.Metrics,
		autoscalingv2.MetricSpec{Type: "Pods", Pods: &autoscalingv2.PodsMetricSource{
			Metric: autoscalingv2.MetricIdentifier{Name: "qps"}, Target: autoscalingv2.MetricTarget{Type: "AverageValue", AverageValue: &q}}},
		autoscalingv2.MetricSpec{Type: "External", External: &autoscalingv2.ExternalMetricSource{
			Metric: autoscalingv2.MetricIdentifier{Name: "queue"}, Target: autoscalingv2.MetricTarget{Type: "Value", Value: &q}}})
	h.Status.CurrentMetrics = []autoscalingv2.MetricStatus{{Type: "Resource", Resource: &autoscalingv2.ResourceMetricStatus{
		Name: "cpu", Current: autoscalingv2.MetricValueStatus{AverageUtilization: new(int32(42))}}}}
	if got := hpaTargets(h.Spec.Metrics, h.Status.CurrentMetrics); got != "cpu: 42%/80%, <unknown>/10 + 1 more..." {
		t.Errorf("TARGETS = %q", got)
	}
	if got := hpaTargets(nil, nil); got != "<none>" {
		t.Errorf("TARGETS of none = %q", got)
	}
}

func TestHPAV1ToStorage(t *testing.T) {
	k := horizontalPodAutoscalersV1()
	v1 := &autoscalingv1.HorizontalPodAutoscaler{ObjectMeta: groupsMeta("web"), Spec: autoscalingv1.HorizontalPodAutoscalerSpec{
		MaxReplicas:    5,
		ScaleTargetRef: autoscalingv1.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "web"}}}
	groupsWantFields(t, groupsCreate(k, v1))
	if *v1.Spec.MinReplicas != 1 || v1.Spec.TargetCPUUtilizationPercentage != nil {
		t.Errorf("v1 defaults = %+v", v1.Spec)
	}

	stored, err := k.StoredAs.ToStorage(v1)
	if err != nil {
		t.Fatal(err)
	}
	v2 := stored.(*autoscalingv2.HorizontalPodAutoscaler)
	if v2.APIVersion != "autoscaling/v2" || !reflect.DeepEqual(v2.Spec.Metrics, []autoscalingv2.MetricSpec{cpuUtilizationMetric(80)}) {
		t.Errorf("stored = %+v", v2)
	}
	back, err := k.StoredAs.FromStorage(v2)
	if err != nil {
		t.Fatal(err)
	}
	b := back.(*autoscalingv1.HorizontalPodAutoscaler)
	if b.APIVersion != "autoscaling/v1" || b.Spec.TargetCPUUtilizationPercentage == nil || *b.Spec.TargetCPUUtilizationPercentage != 80 ||
		len(b.Annotations) != 0 {
		t.Errorf("read back = %+v", b)
	}

	// What v1 reads back, v1 writes back unchanged.
	again, err := k.StoredAs.ToStorage(b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(again, v2) {
		t.Errorf("second write differs:\n%+v\n%+v", again, v2)
	}
}

// TestHPARoundTrip sends a v2 object with everything v1 lacks through v1
// and back.
func TestHPARoundTrip(t *testing.T) {
	k := horizontalPodAutoscalersV1()
	avg := resource.MustParse("500m")
	val := resource.MustParse("30")
	now := metav1.Now()
	h := newHPA()
	h.Annotations = map[string]string{"team": "web"}
	h.Spec.Metrics = []autoscalingv2.MetricSpec{
		cpuUtilizationMetric(60),
		{Type: "Resource", Resource: &autoscalingv2.ResourceMetricSource{Name: "memory",
			Target: autoscalingv2.MetricTarget{Type: "AverageValue", AverageValue: &avg}}},
		{Type: "Pods", Pods: &autoscalingv2.PodsMetricSource{Metric: autoscalingv2.MetricIdentifier{Name: "qps"},
			Target: autoscalingv2.MetricTarget{Type: "AverageValue", AverageValue: &val}}},
		{Type: "Object", Object: &autoscalingv2.ObjectMetricSource{
			DescribedObject: autoscalingv2.CrossVersionObjectReference{APIVersion: "networking.k8s.io/v1", Kind: "Ingress", Name: "web"},
			Metric:          autoscalingv2.MetricIdentifier{Name: "rps", Selector: groupsSelector()},
			Target:          autoscalingv2.MetricTarget{Type: "Value", Value: &val}}},
		{Type: "External", External: &autoscalingv2.ExternalMetricSource{Metric: autoscalingv2.MetricIdentifier{Name: "queue"},
			Target: autoscalingv2.MetricTarget{Type: "AverageValue", AverageValue: &val}}},
		{Type: "ContainerResource", ContainerResource: &autoscalingv2.ContainerResourceMetricSource{Name: "cpu", Container: "app",
			Target: autoscalingv2.MetricTarget{Type: "Utilization", AverageUtilization: new(int32(70))}}},
	}
	h.Spec.Behavior = &autoscalingv2.HorizontalPodAutoscalerBehavior{ScaleDown: &autoscalingv2.HPAScalingRules{
		StabilizationWindowSeconds: new(int32(120))}}
	h.Status = autoscalingv2.HorizontalPodAutoscalerStatus{
		ObservedGeneration: new(int64(3)), LastScaleTime: &now, CurrentReplicas: 2, DesiredReplicas: 3,
		CurrentMetrics: []autoscalingv2.MetricStatus{
			{Type: "Resource", Resource: &autoscalingv2.ResourceMetricStatus{Name: "cpu",
				Current: autoscalingv2.MetricValueStatus{AverageUtilization: new(int32(75)), AverageValue: &avg}}},
			{Type: "Pods", Pods: &autoscalingv2.PodsMetricStatus{Metric: autoscalingv2.MetricIdentifier{Name: "qps"},
				Current: autoscalingv2.MetricValueStatus{AverageValue: &val}}},
		},
		Conditions: []autoscalingv2.HorizontalPodAutoscalerCondition{{Type: "AbleToScale", Status: corev1.ConditionTrue,
			LastTransitionTime: now, Reason: "ReadyForNewScale", Message: "ok"}},
	}
	defaultHPA(h)

	out, err := k.StoredAs.FromStorage(h)
	if err != nil {
		t.Fatal(err)
	}
	v1 := out.(*autoscalingv1.HorizontalPodAutoscaler)
	if *v1.Spec.TargetCPUUtilizationPercentage != 60 || *v1.Status.CurrentCPUUtilizationPercentage != 75 {
		t.Errorf("v1 = %+v", v1)
	}
	for _, a := range append(hpaAnnotations, "team") {
		if _, ok := v1.Annotations[a]; !ok {
			t.Errorf("annotation %s missing", a)
		}
	}
	var specs []autoscalingv1.MetricSpec
	if err := json.Unmarshal([]byte(v1.Annotations[hpaMetricsAnnotation]), &specs); err != nil || len(specs) != 5 {
		t.Errorf("metrics annotation = %s (%v)", v1.Annotations[hpaMetricsAnnotation], err)
	}

	// Through JSON as a client would see it.
	b, err := json.Marshal(v1)
	if err != nil {
		t.Fatal(err)
	}
	var decoded autoscalingv1.HorizontalPodAutoscaler
	if err := json.Unmarshal(b, &decoded); err != nil {
		t.Fatal(err)
	}
	in, err := k.StoredAs.ToStorage(&decoded)
	if err != nil {
		t.Fatal(err)
	}
	got := in.(*autoscalingv2.HorizontalPodAutoscaler)
	want := h.DeepCopy()
	want.TypeMeta = got.TypeMeta
	gj, _ := json.Marshal(got)
	wj, _ := json.Marshal(want)
	if string(gj) != string(wj) {
		t.Errorf("round trip differs:\n got %s\nwant %s", gj, wj)
	}
}

func TestHPAV1Validation(t *testing.T) {
	k := horizontalPodAutoscalersV1()
	v1 := &autoscalingv1.HorizontalPodAutoscaler{ObjectMeta: groupsMeta("web"), Spec: autoscalingv1.HorizontalPodAutoscalerSpec{
		MaxReplicas: 5, TargetCPUUtilizationPercentage: new(int32(0)),
		ScaleTargetRef: autoscalingv1.CrossVersionObjectReference{Kind: "Deployment"}}}
	k.Defaults(v1)
	stored, err := k.StoredAs.ToStorage(v1)
	if err != nil {
		t.Fatal(err)
	}
	groupsWantFields(t, groupsCreate(horizontalPodAutoscalersV2(), stored),
		"spec.metrics[0].resource.target.averageUtilization", "spec.scaleTargetRef.name")

	if row := k.Row(v1); len(row) != len(k.Columns) || row[2] != "cpu: <unknown>/0%" {
		t.Errorf("row = %v", row)
	}

	v1.Annotations = map[string]string{hpaMetricsAnnotation: "{not json"}
	if _, err := k.StoredAs.ToStorage(v1); err == nil || !strings.Contains(err.Error(), hpaMetricsAnnotation) {
		t.Errorf("ToStorage with a bad annotation: %v", err)
	}
	if row := k.Row(v1); row[2] != "cpu: <unknown>/0%" {
		t.Errorf("row with a bad annotation = %v", row)
	}
}

func TestHPARoundTripKeepsOrder(t *testing.T) {
	k := horizontalPodAutoscalersV1()
	avg := resource.MustParse("1Gi")
	h := newHPA()
	h.Spec.MinReplicas = new(int32(2))
	h.Spec.Metrics = []autoscalingv2.MetricSpec{
		{Type: "Resource", Resource: &autoscalingv2.ResourceMetricSource{Name: "memory",
			Target: autoscalingv2.MetricTarget{Type: "AverageValue", AverageValue: &avg}}},
		cpuUtilizationMetric(60),
	}
	out, err := k.StoredAs.FromStorage(h)
	if err != nil {
		t.Fatal(err)
	}
	v1 := out.(*autoscalingv1.HorizontalPodAutoscaler)
	if *v1.Spec.TargetCPUUtilizationPercentage != 60 {
		t.Fatalf("target = %v", v1.Spec.TargetCPUUtilizationPercentage)
	}

	// A v1 client changing the target changes the copy in place.
	v1.Spec.TargetCPUUtilizationPercentage = new(int32(70))
	in, err := k.StoredAs.ToStorage(v1)
	if err != nil {
		t.Fatal(err)
	}
	want := h.DeepCopy()
	want.Spec.Metrics[1] = cpuUtilizationMetric(70)
	if got := in.(*autoscalingv2.HorizontalPodAutoscaler); !reflect.DeepEqual(got.Spec, want.Spec) {
		t.Errorf("spec = %+v, want %+v", got.Spec, want.Spec)
	}

	// Dropping the target drops the metric.
	v1.Spec.TargetCPUUtilizationPercentage = nil
	in, err = k.StoredAs.ToStorage(v1)
	if err != nil {
		t.Fatal(err)
	}
	if got := in.(*autoscalingv2.HorizontalPodAutoscaler).Spec.Metrics; len(got) != 1 || got[0].Resource.Name != "memory" {
		t.Errorf("metrics = %+v", got)
	}
}
