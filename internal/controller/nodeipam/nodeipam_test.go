package nodeipam

import (
	"net/netip"
	"testing"
)

func TestAllocator(t *testing.T) {
	cases := []struct {
		name    string
		cluster string
		bits    int
		occupy  []string
		want    []string
		wantErr bool
	}{
		{name: "first ranges", cluster: "10.42.0.0/16", bits: 24, want: []string{"10.42.0.0/24", "10.42.1.0/24", "10.42.2.0/24"}},
		{name: "skips occupied", cluster: "10.42.0.0/16", bits: 24, occupy: []string{"10.42.0.0/24", "10.42.2.0/24", "10.244.0.0/24"}, want: []string{"10.42.1.0/24", "10.42.3.0/24"}},
		{name: "carry across octets", cluster: "10.0.0.0/8", bits: 26, want: []string{"10.0.0.0/26", "10.0.0.64/26", "10.0.0.128/26", "10.0.0.192/26", "10.0.1.0/26"}},
		{name: "exhausted", cluster: "10.42.0.0/23", bits: 24, want: []string{"10.42.0.0/24", "10.42.1.0/24"}, wantErr: true},
		{name: "ipv6", cluster: "fd00:42::/56", bits: 64, want: []string{"fd00:42::/64", "fd00:42:0:1::/64"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a, err := NewAllocator(netip.MustParsePrefix(tc.cluster), tc.bits)
			if err != nil {
				t.Fatal(err)
			}
			a.Occupy(tc.occupy)
			for _, w := range tc.want {
				p, err := a.Next()
				if err != nil {
					t.Fatal(err)
				}
				if p.String() != w {
					t.Fatalf("got %s, want %s", p, w)
				}
			}
			if _, err := a.Next(); (err != nil) != tc.wantErr {
				t.Fatalf("after the expected ranges: err %v, wantErr %v", err, tc.wantErr)
			}
		})
	}
}

func TestAllocatorRejectsBadSizes(t *testing.T) {
	for _, bits := range []int{15, 31, 32} {
		if _, err := NewAllocator(netip.MustParsePrefix("10.42.0.0/16"), bits); err == nil {
			t.Errorf("/%d in a /16: no error", bits)
		}
	}
}

func TestAllocatorReleaseIsReusedLast(t *testing.T) {
	a, _ := NewAllocator(netip.MustParsePrefix("10.42.0.0/22"), 24)
	p0, _ := a.Next()
	a.Release([]string{p0.String()})
	p1, _ := a.Next()
	if p1 == p0 {
		t.Fatalf("a released range came back at once: %s", p1)
	}
}
