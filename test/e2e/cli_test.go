package e2e

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// runBosun runs a short-lived bosun command and returns its exit code,
// stdout and stderr.
func runBosun(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary(), args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("bosun %s still running after 20s", strings.Join(args, " "))
	}
	var exit *exec.ExitError
	switch {
	case err == nil:
		return 0, stdout.String(), stderr.String()
	case errors.As(err, &exit):
		return exit.ExitCode(), stdout.String(), stderr.String()
	default:
		t.Fatalf("bosun %s: %v", strings.Join(args, " "), err)
		return 0, "", ""
	}
}

// TestBadFlags checks that bad input ends the process at once with one
// clear line naming the culprit, before anything is written to disk, and
// that `bosun version` works.
func TestBadFlags(t *testing.T) {
	cases := []struct {
		name string
		args []string
		// mention must appear in the message.
		mention string
	}{
		{"port out of range", []string{"--https-listen-port", "99999"}, "--https-listen-port"},
		{"bind address", []string{"--bind-address", "nonsense"}, "--bind-address"},
		{"service cidr", []string{"--service-cidr", "bad"}, "--service-cidr"},
		{"unknown flag", []string{"--no-such-flag"}, "--no-such-flag"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "data")
			// --disable-agent keeps the "agent not in this build" warning
			// out of stderr, so the error is the only line.
			args := append([]string{"server", "--data-dir", dir, "--disable-agent"}, tc.args...)
			requireCleanFailure(t, args, tc.mention)
			if _, err := os.Stat(dir); !os.IsNotExist(err) {
				t.Errorf("bad flags still created the data dir (%v)", err)
			}
		})
	}
	t.Run("unknown command", func(t *testing.T) {
		requireCleanFailure(t, []string{"nonsense"}, "nonsense")
	})
	t.Run("version", func(t *testing.T) {
		code, stdout, stderr := runBosun(t, "version")
		if code != 0 {
			t.Fatalf("bosun version exited %d: %s", code, stderr)
		}
		if !regexp.MustCompile(`^bosun \S+ .*\n$`).MatchString(stdout) {
			t.Errorf("bosun version printed %q", stdout)
		}
	})
}

func requireCleanFailure(t *testing.T, args []string, mention string) {
	t.Helper()
	began := time.Now()
	code, stdout, stderr := runBosun(t, args...)
	took := time.Since(began)
	if code == 0 {
		t.Fatalf("bosun %s exited 0; stdout %q", strings.Join(args, " "), stdout)
	}
	if took > 5*time.Second {
		t.Errorf("bosun %s took %v to fail", strings.Join(args, " "), took)
	}
	lines := strings.Split(strings.TrimRight(stderr, "\n"), "\n")
	if len(lines) != 1 || lines[0] == "" {
		t.Errorf("bosun %s: stderr is not one line:\n%s", strings.Join(args, " "), stderr)
	}
	if !strings.Contains(stderr, mention) {
		t.Errorf("bosun %s: stderr %q does not mention %s", strings.Join(args, " "), stderr, mention)
	}
}

// TestColdStart logs, for the docs, how long a fresh server takes to be
// ready and how much memory it holds then. It asserts nothing about either.
func TestColdStart(t *testing.T) {
	s := startServer(t, serverOptions{})
	rss := "unknown"
	if status, err := os.ReadFile("/proc/" + strconv.Itoa(s.cmd.Process.Pid) + "/status"); err == nil {
		for _, line := range strings.Split(string(status), "\n") {
			if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
				rss = strings.Join(strings.Fields(v), " ")
			}
		}
	}
	t.Logf("cold start: /readyz ok %v after process start on a fresh data dir; VmRSS %s", s.readyAfter.Round(time.Millisecond), rss)
	s.stop(t)
}
