package pki

import (
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"

	"github.com/bosun-sh/bosun/internal/atomicfile"
)

// WriteKubeconfig writes a kubeconfig for server that authenticates with
// the given client certificate. The file is readable by its owner only.
func WriteKubeconfig(path, server string, caPEM, certPEM, keyPEM []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	b64 := base64.StdEncoding.EncodeToString
	data := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: bosun
  cluster:
    server: %s
    certificate-authority-data: %s
users:
- name: admin
  user:
    client-certificate-data: %s
    client-key-data: %s
contexts:
- name: bosun
  context:
    cluster: bosun
    user: admin
current-context: bosun
preferences: {}
`, server, b64(caPEM), b64(certPEM), b64(keyPEM))
	return atomicfile.WriteFile(path, []byte(data), 0o600)
}
