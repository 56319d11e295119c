package audit

import (
	"encoding/json"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestEventWireFormat pins the JSON of an Event to the audit.k8s.io/v1 field names,
// order and formats (microsecond UTC timestamps, an empty status metadata) that log
// shippers parse.
func TestEventWireFormat(t *testing.T) {
	at := time.Date(2026, 3, 1, 8, 41, 23, 177243512, time.FixedZone("CET", 3600))
	ev := Event{
		Kind: "Event", APIVersion: "audit.k8s.io/v1",
		Level: LevelRequest, AuditID: "547daa8a-bed4-43a2-9bd4-43341aab43ae", Stage: StageResponseComplete,
		RequestURI: "/apis/apps/v1/namespaces/team/deployments/web/scale", Verb: "update",
		User:                     UserInfo{Username: "alice", UID: "1", Groups: []string{"dev"}, Extra: map[string][]string{"k": {"v"}}},
		ImpersonatedUser:         &UserInfo{Username: "bob"},
		SourceIPs:                []string{"10.0.0.1"},
		UserAgent:                "kubectl/v1.33.0",
		ObjectRef:                &ObjectReference{Resource: "deployments", Namespace: "team", Name: "web", UID: "u", APIGroup: "apps", APIVersion: "v1", ResourceVersion: "7", Subresource: "scale"},
		ResponseStatus:           &ResponseStatus{Code: 200},
		RequestObject:            json.RawMessage(`{"spec":{"replicas":3}}`),
		RequestReceivedTimestamp: metav1.NewMicroTime(at),
		StageTimestamp:           metav1.NewMicroTime(at.Add(1500 * time.Microsecond)),
		Annotations:              map[string]string{"authorization.k8s.io/decision": "allow"},
	}
	got, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Request","auditID":"547daa8a-bed4-43a2-9bd4-43341aab43ae","stage":"ResponseComplete",` +
		`"requestURI":"/apis/apps/v1/namespaces/team/deployments/web/scale","verb":"update",` +
		`"user":{"username":"alice","uid":"1","groups":["dev"],"extra":{"k":["v"]}},"impersonatedUser":{"username":"bob"},` +
		`"sourceIPs":["10.0.0.1"],"userAgent":"kubectl/v1.33.0",` +
		`"objectRef":{"resource":"deployments","namespace":"team","name":"web","uid":"u","apiGroup":"apps","apiVersion":"v1","resourceVersion":"7","subresource":"scale"},` +
		`"responseStatus":{"metadata":{},"code":200},"requestObject":{"spec":{"replicas":3}},` +
		`"requestReceivedTimestamp":"2026-03-01T07:41:23.177243Z","stageTimestamp":"2026-03-01T07:41:23.178743Z",` +
		`"annotations":{"authorization.k8s.io/decision":"allow"}}`
	if string(got) != want {
		t.Errorf("Event JSON\n got %s\nwant %s", got, want)
	}
}
