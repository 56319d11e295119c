package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"

	"github.com/bosun-sh/bosun/bench/benchserver"
)

const listTarget = 150 * time.Millisecond // p50

// listPods fills a fresh server with o.listPods ~3 KiB pods, then times
// o.listCalls full LISTs (no limit) through the typed client (which asks
// for protobuf for built-in kinds) and as raw JSON, and reports how the
// server's RSS grew. A few raw protobuf GETs tell the server's share of the
// typed figure from client-go's decoding.
func listPods(ctx context.Context, o options, out io.Writer) ([]row, error) {
	s, cfg, cs, err := start(ctx, o.bin)
	if err != nil {
		return nil, err
	}
	defer s.Stop()
	if err := createNamespace(ctx, cs); err != nil {
		return nil, err
	}
	before, err := s.RSS()
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(out, "   server RSS before creating: %s (%s)\n", mib(float64(before)), rssSplit(s))
	m := meter(s)
	elapsed, _, err := benchserver.CreateAll(ctx, o.writers, o.listPods, func(ctx context.Context, i int) error {
		_, err := cs.CoreV1().Pods(namespace).Create(ctx, benchPod(i), metav1.CreateOptions{})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("creating pods: %w", err)
	}
	created, err := s.RSS()
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(out, "   created %d pods in %s; server RSS %s (%s)\n", o.listPods, elapsed.Round(time.Millisecond), mib(float64(created)), rssSplit(s))
	fmt.Fprintf(out, "   creating: %s\n", m)

	m = meter(s)
	typed := make([]time.Duration, o.listCalls)
	for i := range typed {
		t0 := time.Now()
		l, err := cs.CoreV1().Pods("").List(ctx, metav1.ListOptions{})
		typed[i] = time.Since(t0)
		if err != nil {
			return nil, fmt.Errorf("typed list %d: %w", i, err)
		}
		if len(l.Items) != o.listPods {
			return nil, fmt.Errorf("typed list %d: %d pods, want %d", i, len(l.Items), o.listPods)
		}
	}

	fmt.Fprintf(out, "   typed lists: %s\n", m)

	hc, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return nil, fmt.Errorf("http client: %w", err)
	}
	m = meter(s)
	raw := make([]time.Duration, o.listCalls)
	var body int64
	for i := range raw {
		t0 := time.Now()
		body, err = rawList(ctx, hc, s.URL()+"/api/v1/pods", "application/json")
		raw[i] = time.Since(t0)
		if err != nil {
			return nil, fmt.Errorf("raw list %d: %w", i, err)
		}
	}
	fmt.Fprintf(out, "   raw lists: %s\n", m)
	rawPB := make([]time.Duration, min(5, o.listCalls))
	var pbBody int64
	for i := range rawPB {
		t0 := time.Now()
		pbBody, err = rawList(ctx, hc, s.URL()+"/api/v1/pods", "application/vnd.kubernetes.protobuf")
		rawPB[i] = time.Since(t0)
		if err != nil {
			return nil, fmt.Errorf("raw protobuf list %d: %w", i, err)
		}
	}
	listed, err := s.RSS()
	if err != nil {
		return nil, err
	}

	per := func(b uint64) float64 { return (float64(b) - float64(before)) * 10000 / float64(o.listPods) }
	tp50, tp99 := benchserver.Percentile(typed, 0.5), benchserver.Percentile(typed, 0.99)
	rp50, rp99 := benchserver.Percentile(raw, 0.5), benchserver.Percentile(raw, 0.99)
	fmt.Fprintf(out, "   typed List: p50 %s, p99 %s, min %s\n", ms(tp50), ms(tp99), ms(typed[0]))
	fmt.Fprintf(out, "   raw GET (%s of JSON, %d B per pod): p50 %s, p99 %s, min %s\n", mib(float64(body)), body/int64(o.listPods), ms(rp50), ms(rp99), ms(raw[0]))
	fmt.Fprintf(out, "   raw protobuf GET, body only, not decoded (%s): p50 %s of %d\n", mib(float64(pbBody)), ms(benchserver.Percentile(rawPB, 0.5)), len(rawPB))
	fmt.Fprintf(out, "   server RSS after lists: %s (%s)\n", mib(float64(listed)), rssSplit(s))
	n, calls := o.listPods, o.listCalls
	return []row{
		judged(fmt.Sprintf("LIST %d pods, client-go typed (protobuf), p50 of %d", n, calls), ms(tp50), "<= 150 ms", tp50 <= listTarget),
		info(fmt.Sprintf("LIST %d pods, client-go typed (protobuf), p99 of %d", n, calls), ms(tp99)),
		judged(fmt.Sprintf("LIST %d pods, raw JSON GET, p50 of %d", n, calls), ms(rp50), "<= 150 ms", rp50 <= listTarget),
		info(fmt.Sprintf("LIST %d pods, raw JSON GET, p99 of %d", n, calls), ms(rp99)),
		info("server RSS growth per 10,000 pods, after create", mib(per(created))),
		info("server RSS growth per 10,000 pods, after lists", mib(per(listed))),
	}, nil
}

// rawList GETs url as the media type and reads the whole body, returning
// its size.
func rawList(ctx context.Context, hc *http.Client, url, media string) (int64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Accept", media)
	resp, err := hc.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	n, err := io.Copy(io.Discard, resp.Body)
	if err != nil {
		return n, err
	}
	if resp.StatusCode != http.StatusOK {
		return n, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return n, nil
}
