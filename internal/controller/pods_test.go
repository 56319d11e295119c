package controller

import (
	"errors"
	"reflect"
	"sort"
	"sync"
	"testing"
)

func TestSlowStartBatches(t *testing.T) {
	cases := []struct {
		n    int
		want []int
	}{{0, nil}, {1, []int{1}}, {3, []int{1, 2}}, {10, []int{1, 2, 4, 3}}, {15, []int{1, 2, 4, 8}}}
	for _, tc := range cases {
		if got := slowStartBatches(tc.n); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("slowStartBatches(%d) = %v, want %v", tc.n, got, tc.want)
		}
	}
}

func TestSlowStart(t *testing.T) {
	items := make([]int, 10)
	for i := range items {
		items[i] = i
	}
	var mu sync.Mutex
	var tried, skipped []int
	err := SlowStart(items, func(i int) error {
		mu.Lock()
		tried = append(tried, i)
		mu.Unlock()
		if i == 2 { // in the second batch (1, 2)
			return errors.New("refused")
		}
		return nil
	}, func(i int) { skipped = append(skipped, i) })
	sort.Ints(tried)
	if err == nil || !reflect.DeepEqual(tried, []int{0, 1, 2}) || !reflect.DeepEqual(skipped, []int{3, 4, 5, 6, 7, 8, 9}) {
		t.Errorf("err %v, tried %v, skipped %v; want an error, 0-2 tried and 3-9 skipped", err, tried, skipped)
	}
	if err := SlowStart(items, func(int) error { return nil }, func(int) { t.Error("skipped without an error") }); err != nil {
		t.Error(err)
	}
}
