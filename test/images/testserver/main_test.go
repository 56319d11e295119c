package main

import (
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"google.golang.org/grpc/health"
)

func TestEndpoints(t *testing.T) {
	s := &server{log: log.New(io.Discard, "", 0), grpcHealth: health.NewServer()}
	s.healthy.Store(true)
	s.ready.Store(true)
	srv := httptest.NewServer(s.routes())
	defer srv.Close()
	file := filepath.Join(t.TempDir(), "f")
	os.WriteFile(file, []byte("file content"), 0o644)
	t.Setenv("TESTSERVER_VAR", "set")

	cases := []struct {
		name, method, path, body string
		code                     int
		want                     string
	}{
		{"echo", "POST", "/echo?x=1", "payload", 200, "method: POST\nurl: /echo?x=1"},
		{"echo body", "PUT", "/anything", "payload", 200, "body:\npayload"},
		{"env", "GET", "/env", "", 200, "TESTSERVER_VAR=set"},
		{"file", "GET", "/file?path=" + file, "", 200, "file content"},
		{"missing file", "GET", "/file?path=/nonexistent", "", 404, "no such file"},
		{"sleep", "GET", "/sleep?d=10ms", "", 200, "slept 10ms"},
		{"bad sleep", "GET", "/sleep?d=x", "", 400, "DURATION"},
		{"bad exit", "GET", "/exit?code=300", "", 400, "0 to 255"},
		{"alloc", "GET", "/alloc?mb=2", "", 200, "holding 2 MiB"},
		{"healthy", "GET", "/healthz", "", 200, "ok"},
		{"fail healthz", "GET", "/fail?probe=healthz", "", 200, "healthz ok=false"},
		{"healthz failing", "GET", "/healthz", "", 500, "failing"},
		{"readyz still fine", "GET", "/readyz", "", 200, "ok"},
		{"fail readyz", "GET", "/fail?probe=readyz", "", 200, "readyz ok=false"},
		{"readyz failing", "GET", "/readyz", "", 500, "failing"},
		{"fail nothing", "GET", "/fail?probe=x", "", 400, "want ?probe"},
		{"heal all", "GET", "/heal", "", 200, "readyz ok=true"},
		{"healthz healed", "GET", "/healthz", "", 200, "ok"},
		{"readyz healed", "GET", "/readyz", "", 200, "ok"},
		{"hostname", "GET", "/hostname", "", 200, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, srv.URL+tc.path, strings.NewReader(tc.body))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.code || !strings.Contains(string(body), tc.want) {
				t.Errorf("%s %s = %d %q, want %d containing %q", tc.method, tc.path, resp.StatusCode, body, tc.code, tc.want)
			}
		})
	}
}

func TestWebSocketEcho(t *testing.T) {
	s := &server{log: log.New(io.Discard, "", 0), grpcHealth: health.NewServer()}
	srv := httptest.NewServer(s.routes())
	defer srv.Close()
	host, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	d := websocket.Dialer{HandshakeTimeout: 5 * time.Second}
	c, _, err := d.Dial("ws"+strings.TrimPrefix(srv.URL, "http")+"/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	cases := []struct {
		name string
		typ  int
		send string
		want string
	}{
		{"text", websocket.TextMessage, "hello", host + ": hello"},
		{"empty text", websocket.TextMessage, "", host + ": "},
		{"binary unchanged", websocket.BinaryMessage, "\x00\x01", "\x00\x01"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if err := c.WriteMessage(tc.typ, []byte(tc.send)); err != nil {
				t.Fatal(err)
			}
			typ, got, err := c.ReadMessage()
			if err != nil {
				t.Fatal(err)
			}
			if typ != tc.typ || string(got) != tc.want {
				t.Errorf("got type %d %q, want type %d %q", typ, got, tc.typ, tc.want)
			}
		})
	}
	resp, err := http.Get(srv.URL + "/ws")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("plain GET /ws = %d, want 400", resp.StatusCode)
	}
}
