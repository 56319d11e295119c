package proxy

import (
	"fmt"
	"slices"
	"sort"
	"strings"
)

// diff returns the nft script that turns the table old describes into
// the one m describes, in one transaction that touches only what
// changed, or "" when nothing did. inPlace is false when the change
// cannot be made in place (a set's declaration changed) and the table
// must be written whole instead.
//
// The steps are ordered so that nothing is ever referenced before it
// exists or deleted while referenced: elements leave the maps, new chains
// and sets are declared, changed chains are refilled, elements enter the
// maps, and last the chains and sets no longer wanted are emptied and
// deleted.
func (m *model) diff(old *model) (script string, inPlace bool) {
	var b strings.Builder
	oldObjs, newObjs := objectIndex(old), objectIndex(m)

	for _, ip := range old.nodeIPs {
		if !slices.Contains(m.nodeIPs, ip) {
			fmt.Fprintf(&b, "delete element ip %s %s { %s }\n", Table, setNodeIPs, ip)
		}
	}
	for _, mt := range mapTypes {
		before, after := old.maps[mt.name], m.maps[mt.name]
		for _, k := range sortedKeys(before) {
			if v, found := after[k]; !found || v != before[k] {
				fmt.Fprintf(&b, "delete element ip %s %s { %s }\n", Table, mt.name, k)
			}
		}
	}

	var refill []object
	for _, o := range m.objects {
		prev, existed := oldObjs[o.name]
		switch {
		case !existed:
			if o.kind == "set" {
				fmt.Fprintf(&b, "add set ip %s %s { %s; }\n", Table, o.name, strings.Join(o.lines, "; "))
				continue
			}
			fmt.Fprintf(&b, "add chain ip %s %s\n", Table, o.name)
			refill = append(refill, o)
		case prev.kind != o.kind || prev.text() != o.text():
			if o.kind != "chain" || prev.kind != "chain" {
				return "", false
			}
			fmt.Fprintf(&b, "flush chain ip %s %s\n", Table, o.name)
			refill = append(refill, o)
		}
	}
	for _, o := range refill {
		for _, l := range o.lines {
			fmt.Fprintf(&b, "add rule ip %s %s %s\n", Table, o.name, l)
		}
	}

	for _, ip := range m.nodeIPs {
		if !slices.Contains(old.nodeIPs, ip) {
			fmt.Fprintf(&b, "add element ip %s %s { %s }\n", Table, setNodeIPs, ip)
		}
	}
	for _, mt := range mapTypes {
		before, after := old.maps[mt.name], m.maps[mt.name]
		for _, k := range sortedKeys(after) {
			if v, found := before[k]; !found || v != after[k] {
				fmt.Fprintf(&b, "add element ip %s %s { %s : %s }\n", Table, mt.name, k, after[k])
			}
		}
	}

	// A chain is flushed before any chain or set is deleted, so the
	// rules of one gone chain no longer hold another gone one.
	var gone []object
	for _, o := range old.objects {
		if _, kept := newObjs[o.name]; !kept {
			gone = append(gone, o)
		}
	}
	for _, o := range gone {
		if o.kind == "chain" {
			fmt.Fprintf(&b, "flush chain ip %s %s\n", Table, o.name)
		}
	}
	for _, o := range gone {
		fmt.Fprintf(&b, "delete %s ip %s %s\n", o.kind, Table, o.name)
	}
	return b.String(), true
}

func objectIndex(m *model) map[string]object {
	idx := make(map[string]object, len(m.objects))
	for _, o := range m.objects {
		idx[o.name] = o
	}
	return idx
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
