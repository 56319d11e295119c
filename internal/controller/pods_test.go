package controller

import (
	"reflect"
	"testing"
)

func TestSlowStartBatches(t *testing.T) {
	cases := []struct {
		n    int
		want []int
	}{{0, nil}, {1, []int{1}}, {3, []int{1, 2}}, {10, []int{1, 2, 4, 3}}, {15, []int{1, 2, 4, 8}}}
	for _, tc := range cases {
		if got := SlowStartBatches(tc.n); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("SlowStartBatches(%d) = %v, want %v", tc.n, got, tc.want)
		}
	}
}
