package garbagecollector

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

func TestGraphLinks(t *testing.T) {
	g := newGraph()
	ref := func(uid types.UID) metav1.OwnerReference { return metav1.OwnerReference{UID: uid} }
	g.upsert(&node{uid: "a"})
	g.upsert(&node{uid: "b", owners: []metav1.OwnerReference{ref("a"), ref("x")}})
	g.upsert(&node{uid: "c", owners: []metav1.OwnerReference{ref("a")}})
	if got := len(g.dependentsOf("a")); got != 2 {
		t.Fatalf("dependents of a: %d, want 2", got)
	}
	// b drops a: a loses it as a dependent and a is reported.
	if dropped := g.upsert(&node{uid: "b", owners: []metav1.OwnerReference{ref("x")}}); len(dropped) != 1 || dropped[0] != "a" {
		t.Fatalf("dropped %v, want [a]", dropped)
	}
	if got := len(g.dependentsOf("a")); got != 1 {
		t.Fatalf("dependents of a: %d, want 1", got)
	}
	// Removing a keeps its dependents findable; removing c reports a.
	owners, deps := g.remove("a")
	if len(owners) != 0 || len(deps) != 1 || deps[0] != "c" {
		t.Fatalf("remove a: owners %v deps %v", owners, deps)
	}
	owners, _ = g.remove("c")
	if len(owners) != 1 || owners[0] != "a" {
		t.Fatalf("remove c: owners %v", owners)
	}
	// x was never observed but still indexes b.
	if got := len(g.dependentsOf("x")); got != 1 {
		t.Fatalf("dependents of unseen x: %d, want 1", got)
	}
}
