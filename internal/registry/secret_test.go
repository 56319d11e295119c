package registry

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func coreSecret(typ corev1.SecretType, data map[string]string) *corev1.Secret {
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "creds", Namespace: "default"}, Type: typ}
	for k, v := range data {
		if s.Data == nil {
			s.Data = map[string][]byte{}
		}
		s.Data[k] = []byte(v)
	}
	return s
}

func TestSecretWrites(t *testing.T) {
	immutable := coreSecret("", map[string]string{"a": "1"})
	immutable.Immutable = new(true)
	runCoreCases(t, secrets(), []coreCase{
		{name: "opaque", obj: coreSecret("", map[string]string{"password": "x"})},
		{name: "string data", obj: &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "s"}, StringData: map[string]string{"k": "v"}}},
		{name: "tls", obj: coreSecret(corev1.SecretTypeTLS, map[string]string{"tls.crt": "c", "tls.key": "k"})},
		{name: "tls without key", obj: coreSecret(corev1.SecretTypeTLS, map[string]string{"tls.crt": "c"}), paths: []string{"data[tls.key]"}},
		{name: "docker config json", obj: coreSecret(corev1.SecretTypeDockerConfigJson, map[string]string{".dockerconfigjson": `{"auths":{}}`})},
		{name: "docker config not json", obj: coreSecret(corev1.SecretTypeDockerConfigJson, map[string]string{".dockerconfigjson": `{`}),
			paths: []string{"data[.dockerconfigjson]"}},
		{name: "docker config missing", obj: coreSecret(corev1.SecretTypeDockerConfigJson, nil), paths: []string{"data[.dockerconfigjson]"}},
		{name: "service account token", obj: coreSecret(corev1.SecretTypeServiceAccountToken, nil),
			paths: []string{"metadata.annotations[kubernetes.io/service-account.name]"}},
		{name: "bad key", obj: coreSecret("", map[string]string{"a/b": "x"}), paths: []string{"data[a/b]"}},
		{name: "too big", obj: coreSecret("", map[string]string{"a": string(make([]byte, maxConfigSize+1))}), paths: []string{"data"}},
		{name: "type change", old: coreSecret("", nil), obj: coreSecret("example.com/custom", nil), paths: []string{"type"}},
		{name: "immutable data change", old: immutable, obj: coreSecret("", map[string]string{"a": "2"}), paths: []string{"data", "immutable"}},
	})
}

func TestSecretStringData(t *testing.T) {
	s := coreSecret("", map[string]string{"a": "old", "b": "kept"})
	s.StringData = map[string]string{"a": "new", "c": "added"}
	k := secrets()
	k.Defaults(s)
	if s.StringData != nil || string(s.Data["a"]) != "new" || string(s.Data["b"]) != "kept" || string(s.Data["c"]) != "added" || s.Type != corev1.SecretTypeOpaque {
		t.Errorf("defaulted secret: type %q data %q stringData %q", s.Type, s.Data, s.StringData)
	}
	if row := k.Row(s); row[1] != "Opaque" || row[2] != int64(3) || len(row) != len(k.Columns) {
		t.Errorf("row = %v", row)
	}
	if got := k.Fields(s)["type"]; got != "Opaque" {
		t.Errorf("type field = %q", got)
	}
}
