package openapi

import (
	"testing"
	"time"

	openapi_v2 "github.com/google/gnostic-models/openapiv2"
	"google.golang.org/protobuf/proto"
)

func TestDumpProtoTime(t *testing.T) {
	d, err := Build(testKinds())
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	doc, err := openapi_v2.ParseDocument(d.V2)
	if err != nil {
		t.Fatal(err)
	}
	p1 := time.Since(start)
	b, err := proto.Marshal(doc)
	t.Logf("parse %v marshal %v size %d json %d", p1, time.Since(start)-p1, len(b), len(d.V2))
}
