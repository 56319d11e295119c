package registry

import (
	"reflect"
	"testing"
)

// TestCoreKindDescriptions checks the descriptions of the core/v1 kinds
// against each other: types, names, and one cell per column.
func TestCoreKindDescriptions(t *testing.T) {
	cases := []struct {
		kind       *Kind
		namespaced bool
		short      string
	}{
		{namespaces(), false, "ns"},
		{pods(), true, "po"},
		{services(), true, "svc"},
		{endpoints(), true, "ep"},
		{secrets(), true, ""},
		{serviceAccounts(), true, "sa"},
		{nodes(), false, "no"},
		{events(), true, "ev"},
		{persistentVolumes(), false, "pv"},
		{persistentVolumeClaims(), true, "pvc"},
		{resourceQuotas(), true, "quota"},
		{limitRanges(), true, "limits"},
	}
	for _, tc := range cases {
		k := tc.kind
		t.Run(k.Resource, func(t *testing.T) {
			if k.GVK.Group != "" || k.GVK.Version != "v1" {
				t.Errorf("GVK = %v", k.GVK)
			}
			if got := reflect.TypeOf(k.New()).Elem().Name(); got != k.GVK.Kind {
				t.Errorf("New returns %s for kind %s", got, k.GVK.Kind)
			}
			if got := reflect.TypeOf(k.NewList()).Elem().Name(); got != k.GVK.Kind+"List" {
				t.Errorf("NewList returns %s", got)
			}
			if k.Namespaced != tc.namespaced {
				t.Errorf("Namespaced = %v", k.Namespaced)
			}
			if tc.short != "" && (len(k.ShortNames) == 0 || k.ShortNames[0] != tc.short) {
				t.Errorf("ShortNames = %v", k.ShortNames)
			}
			obj := k.New()
			if k.Defaults != nil {
				k.Defaults(obj)
			}
			if row := k.Row(obj); len(row) != len(k.Columns) {
				t.Errorf("row of an empty object has %d cells for %d columns", len(row), len(k.Columns))
			}
			for i, c := range k.Columns {
				if c.Name == "" || c.Type == "" {
					t.Errorf("column %d incomplete: %+v", i, c)
				}
			}
			if k.Fields != nil {
				for f := range k.Fields(k.New()) {
					if f == "metadata.name" || f == "metadata.namespace" {
						t.Errorf("Fields repeats %s", f)
					}
				}
			}
		})
	}
}
