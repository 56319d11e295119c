package main

import (
	"context"
	"fmt"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/bosun-sh/bosun/bench/benchserver"
)

// start starts a server, waits until it is ready and returns it with its
// admin configuration and a clientset.
func start(ctx context.Context, bin string) (*benchserver.Server, *rest.Config, kubernetes.Interface, error) {
	s, err := benchserver.StartReady(ctx, bin)
	if err != nil {
		return nil, nil, nil, err
	}
	cfg, err := s.ClientConfig()
	if err == nil {
		var cs kubernetes.Interface
		if cs, err = kubernetes.NewForConfig(cfg); err == nil {
			return s, cfg, cs, nil
		}
	}
	s.Stop()
	return nil, nil, nil, err
}

// rssSplit says how the server's RSS divides into anonymous memory (heap,
// stacks) and file-backed pages (the mapped binary, etcd's mmapped
// database).
func rssSplit(s *benchserver.Server) string {
	anon, file, err := s.RSSParts()
	if err != nil {
		return "split unknown"
	}
	return fmt.Sprintf("%s anonymous, %s file-backed", mib(float64(anon)), mib(float64(file)))
}

// cpuMeter tells how the CPU time of an interval split between the server
// and this bench client, to show which side a figure is bound by.
type cpuMeter struct {
	s             *benchserver.Server
	wall          time.Time
	server, local time.Duration
}

func meter(s *benchserver.Server) cpuMeter {
	return cpuMeter{s: s, wall: time.Now(), server: s.CPU(), local: benchserver.SelfCPU()}
}

// String is the CPU used since the meter started.
func (m cpuMeter) String() string {
	wall := time.Since(m.wall)
	sv, cl := m.s.CPU()-m.server, benchserver.SelfCPU()-m.local
	return fmt.Sprintf("cpu over %.1f s: server %.1f s (%.2f cores), bench client %.1f s (%.2f cores), load %.2f",
		wall.Seconds(), sv.Seconds(), sv.Seconds()/wall.Seconds(), cl.Seconds(), cl.Seconds()/wall.Seconds(), benchserver.LoadAverage())
}
