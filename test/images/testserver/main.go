// Command testserver is the HTTP server of bosun's end-to-end test image.
// Each endpoint lets a test make a container do one observable thing: echo
// a request, print its environment or a file, sleep, exit with a code,
// hold memory, or fail its health checks on demand. It logs every request
// to stdout and, on SIGTERM, logs "terminating" and exits 0 once in-flight
// requests are done.
//
//	/ and /echo         method, URL, headers, body and the host name
//	/env                the environment, one KEY=VALUE a line
//	/file?path=P        the content of file P
//	/hostname           the host name (the pod's name in a pod)
//	/sleep?d=2s         answers after that long
//	/exit?code=N        answers, then exits with code N
//	/alloc?mb=N         allocates and touches N MiB more, and keeps them
//	/healthz, /readyz   200 "ok", or 500 once failed
//	/fail?probe=P       makes P (healthz, readyz) answer 500
//	/heal[?probe=P]     makes P (default: both) answer 200 again
//	/ws                 WebSocket echo: each text message comes back as
//	                    "HOSTNAME: message", binary ones unchanged
//
// With --grpc-port it also serves the standard gRPC health service, which
// reports NOT_SERVING while /healthz is failed.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gorilla/websocket"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "testserver:", err)
		os.Exit(1)
	}
}

func run() error {
	defaultPort := 8080
	if p, err := strconv.Atoi(os.Getenv("PORT")); err == nil {
		defaultPort = p
	}
	port := flag.Int("port", defaultPort, "HTTP port (also $PORT)")
	grpcPort := flag.Int("grpc-port", 0, "port of the gRPC health service (0: none)")
	drain := flag.Duration("drain", 2*time.Second, "how long SIGTERM waits for in-flight requests")
	flag.Parse()

	logger := log.New(os.Stdout, "", log.LstdFlags)
	s := &server{log: logger, grpcHealth: health.NewServer()}
	s.healthy.Store(true)
	s.ready.Store(true)

	ln, err := net.Listen("tcp", fmt.Sprintf(":%d", *port))
	if err != nil {
		return err
	}
	httpServer := &http.Server{Handler: s.routes(), ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 2)
	go func() { errc <- httpServer.Serve(ln) }()
	logger.Printf("listening on %s", ln.Addr())

	var grpcServer *grpc.Server
	if *grpcPort != 0 {
		gln, err := net.Listen("tcp", fmt.Sprintf(":%d", *grpcPort))
		if err != nil {
			return err
		}
		grpcServer = grpc.NewServer()
		healthpb.RegisterHealthServer(grpcServer, s.grpcHealth)
		go func() { errc <- grpcServer.Serve(gln) }()
		logger.Printf("gRPC health on %s", gln.Addr())
	}

	sigc := make(chan os.Signal, 1)
	signal.Notify(sigc, syscall.SIGTERM, syscall.SIGINT)
	select {
	case err := <-errc:
		return err
	case sig := <-sigc:
		logger.Printf("terminating (%v)", sig)
	}
	ctx, cancel := context.WithTimeout(context.Background(), *drain)
	defer cancel()
	if grpcServer != nil {
		grpcServer.Stop()
	}
	if err := httpServer.Shutdown(ctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return nil
}

type server struct {
	log        *log.Logger
	healthy    atomic.Bool
	ready      atomic.Bool
	grpcHealth *health.Server

	mu    sync.Mutex
	alloc [][]byte // kept so the memory stays in use
}

func (s *server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/", s.echo)
	mux.HandleFunc("/echo", s.echo)
	mux.HandleFunc("/env", s.env)
	mux.HandleFunc("/file", s.file)
	mux.HandleFunc("/hostname", s.hostname)
	mux.HandleFunc("/sleep", s.sleep)
	mux.HandleFunc("/exit", s.exit)
	mux.HandleFunc("/alloc", s.allocate)
	mux.HandleFunc("/healthz", probe(&s.healthy))
	mux.HandleFunc("/readyz", probe(&s.ready))
	mux.HandleFunc("/fail", s.fail)
	mux.HandleFunc("/heal", s.heal)
	mux.HandleFunc("/ws", s.websocket)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.log.Printf("%s %s %s from %s", r.Method, r.URL.RequestURI(), r.Proto, r.RemoteAddr)
		mux.ServeHTTP(w, r)
	})
}

func (s *server) echo(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	host, _ := os.Hostname()
	fmt.Fprintf(w, "method: %s\nurl: %s\nhost: %s\nhostname: %s\nremote: %s\n", r.Method, r.URL.RequestURI(), r.Host, host, r.RemoteAddr)
	names := make([]string, 0, len(r.Header))
	for n := range r.Header {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		for _, v := range r.Header[n] {
			fmt.Fprintf(w, "header: %s: %s\n", n, v)
		}
	}
	fmt.Fprintf(w, "body:\n%s", body)
}

func (s *server) env(w http.ResponseWriter, _ *http.Request) {
	env := os.Environ()
	sort.Strings(env)
	for _, kv := range env {
		fmt.Fprintln(w, kv)
	}
}

func (s *server) file(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Query().Get("path")
	if p == "" {
		http.Error(w, "want ?path=FILE", http.StatusBadRequest)
		return
	}
	f, err := os.Open(p)
	if errors.Is(err, os.ErrNotExist) {
		http.Error(w, err.Error(), http.StatusNotFound)
		return
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusForbidden)
		return
	}
	defer f.Close()
	io.Copy(w, f)
}

func (s *server) hostname(w http.ResponseWriter, _ *http.Request) {
	host, err := os.Hostname()
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	fmt.Fprintln(w, host)
}

func (s *server) sleep(w http.ResponseWriter, r *http.Request) {
	d, err := time.ParseDuration(r.URL.Query().Get("d"))
	if err != nil || d < 0 {
		http.Error(w, "want ?d=DURATION, such as 2s", http.StatusBadRequest)
		return
	}
	select {
	case <-time.After(d):
		fmt.Fprintf(w, "slept %s\n", d)
	case <-r.Context().Done():
	}
}

func (s *server) exit(w http.ResponseWriter, r *http.Request) {
	code, err := strconv.Atoi(r.URL.Query().Get("code"))
	if err != nil || code < 0 || code > 255 {
		http.Error(w, "want ?code=N, 0 to 255", http.StatusBadRequest)
		return
	}
	fmt.Fprintf(w, "exiting with code %d\n", code)
	http.NewResponseController(w).Flush()
	s.log.Printf("exiting with code %d", code)
	// Leave the reply time to reach the client before the process goes.
	go func() {
		time.Sleep(100 * time.Millisecond)
		os.Exit(code)
	}()
}

func (s *server) allocate(w http.ResponseWriter, r *http.Request) {
	mb, err := strconv.Atoi(r.URL.Query().Get("mb"))
	if err != nil || mb < 0 {
		http.Error(w, "want ?mb=N", http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := 0; i < mb; i++ {
		chunk := make([]byte, 1<<20)
		// Touch every page, so the memory is resident, not just reserved.
		for j := 0; j < len(chunk); j += 4096 {
			chunk[j] = 1
		}
		s.alloc = append(s.alloc, chunk)
	}
	fmt.Fprintf(w, "allocated %d MiB, holding %d MiB\n", mb, len(s.alloc))
}

// upgrader accepts any origin: tests connect through ingresses and
// port-forwards whose origin headers name whatever the client used.
var upgrader = websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}

func (s *server) websocket(w http.ResponseWriter, r *http.Request) {
	c, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		return // Upgrade has answered the client already
	}
	defer c.Close()
	host, _ := os.Hostname()
	for {
		typ, msg, err := c.ReadMessage()
		if err != nil {
			if !websocket.IsCloseError(err, websocket.CloseNormalClosure, websocket.CloseGoingAway) {
				s.log.Printf("websocket from %s: %v", r.RemoteAddr, err)
			}
			return
		}
		if typ == websocket.TextMessage {
			msg = append([]byte(host+": "), msg...)
		}
		if err := c.WriteMessage(typ, msg); err != nil {
			s.log.Printf("websocket to %s: %v", r.RemoteAddr, err)
			return
		}
	}
}

func probe(ok *atomic.Bool) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		if !ok.Load() {
			http.Error(w, "failing on request", http.StatusInternalServerError)
			return
		}
		fmt.Fprintln(w, "ok")
	}
}

func (s *server) fail(w http.ResponseWriter, r *http.Request) {
	s.setProbe(w, r.URL.Query().Get("probe"), false)
}

func (s *server) heal(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Query().Get("probe")
	if p == "" {
		s.setProbe(io.Discard, "healthz", true)
		p = "readyz"
	}
	s.setProbe(w, p, true)
}

func (s *server) setProbe(w io.Writer, name string, ok bool) {
	switch name {
	case "healthz":
		s.healthy.Store(ok)
		status := healthpb.HealthCheckResponse_SERVING
		if !ok {
			status = healthpb.HealthCheckResponse_NOT_SERVING
		}
		s.grpcHealth.SetServingStatus("", status)
	case "readyz":
		s.ready.Store(ok)
	default:
		if hw, isHTTP := w.(http.ResponseWriter); isHTTP {
			http.Error(hw, "want ?probe=healthz or ?probe=readyz", http.StatusBadRequest)
		}
		return
	}
	fmt.Fprintf(w, "%s ok=%v\n", name, ok)
}
