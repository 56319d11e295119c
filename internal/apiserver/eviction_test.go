package apiserver

import (
	"fmt"
	"net/http"
	"testing"

	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestBudgetAllows(t *testing.T) {
	many := map[string]metav1.Time{}
	for i := range maxDisruptedPods + 1 {
		many[fmt.Sprintf("pod-%d", i)] = metav1.Time{}
	}
	cases := []struct {
		name       string
		generation int64
		status     policyv1.PodDisruptionBudgetStatus
		code       int32
		retryAfter int32
		cause      string
	}{
		{name: "allowed", generation: 1, status: policyv1.PodDisruptionBudgetStatus{ObservedGeneration: 1, DisruptionsAllowed: 1}},
		{name: "not yet processed", generation: 2, status: policyv1.PodDisruptionBudgetStatus{ObservedGeneration: 1, DisruptionsAllowed: 1},
			code: http.StatusTooManyRequests, retryAfter: 10, cause: "The disruption budget pdb is still being processed by the server."},
		{name: "spent", generation: 1, status: policyv1.PodDisruptionBudgetStatus{ObservedGeneration: 1, DesiredHealthy: 2, CurrentHealthy: 2},
			code: http.StatusTooManyRequests, cause: "The disruption budget pdb needs 2 healthy pods and has 2 currently"},
		{name: "negative", generation: 1, status: policyv1.PodDisruptionBudgetStatus{ObservedGeneration: 1, DisruptionsAllowed: -1},
			code: http.StatusForbidden},
		{name: "too many unconfirmed", generation: 1, status: policyv1.PodDisruptionBudgetStatus{ObservedGeneration: 1, DisruptionsAllowed: 1, DisruptedPods: many},
			code: http.StatusForbidden},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pdb := &policyv1.PodDisruptionBudget{ObjectMeta: metav1.ObjectMeta{Name: "pdb", Generation: tc.generation}, Status: tc.status}
			err := budgetAllows(pdb)
			if tc.code == 0 {
				if err != nil {
					t.Fatalf("err = %v, want nil", err)
				}
				return
			}
			se, ok := err.(*statusError)
			if !ok || se.s.Code != tc.code {
				t.Fatalf("err = %#v, want status %d", err, tc.code)
			}
			if tc.code != http.StatusTooManyRequests {
				return
			}
			d := se.s.Details
			if se.s.Reason != metav1.StatusReasonTooManyRequests || se.s.Message != "Cannot evict pod as it would violate the pod's disruption budget." ||
				d == nil || d.RetryAfterSeconds != tc.retryAfter || len(d.Causes) != 1 ||
				d.Causes[0].Type != policyv1.DisruptionBudgetCause || d.Causes[0].Message != tc.cause {
				t.Errorf("status %+v, details %+v", se.s, d)
			}
		})
	}
}
