package server

import (
	"net/http"
	"strings"

	"github.com/bosun-sh/bosun/internal/apiserver/openapi"
)

// openapiHandler serves the prebuilt OpenAPI documents.
func openapiHandler(d *openapi.Documents) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var data []byte
		switch p := strings.TrimSuffix(r.URL.Path, "/"); {
		case p == "/openapi/v2":
			// kubectl asks for the protobuf form of the v2 document.
			if strings.Contains(r.Header.Get("Accept"), "protobuf") && d.V2Proto != nil {
				w.Header().Set("Content-Type", "application/com.github.proto-openapi.spec.v2.v1.0+protobuf")
				w.Write(d.V2Proto)
				return
			}
			data = d.V2
		case p == "/openapi/v3":
			data = d.V3Root
		case strings.HasPrefix(p, "/openapi/v3/"):
			data = d.V3[strings.TrimPrefix(p, "/openapi/v3/")]
			if data != nil && r.URL.Query().Get("hash") != "" {
				w.Header().Set("Cache-Control", "public, immutable")
			}
		}
		if data == nil {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(data)
	})
}
