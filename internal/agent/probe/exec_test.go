package probe

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"time"
)

// hostExecer runs commands on the test host instead of in a container:
// a real execution with the same contract as the kubelet's CRI ExecSync.
type hostExecer struct{}

func (hostExecer) ExecSync(ctx context.Context, _ string, cmd []string, timeout time.Duration) ([]byte, []byte, int32, error) {
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	var stdout, stderr bytes.Buffer
	c := exec.CommandContext(ctx, cmd[0], cmd[1:]...)
	c.Stdout, c.Stderr = &stdout, &stderr
	err := c.Run()
	if ctx.Err() != nil {
		return nil, nil, -1, fmt.Errorf("exec %v: %w", cmd, ctx.Err())
	}
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) {
		return stdout.Bytes(), stderr.Bytes(), int32(exitErr.ExitCode()), nil
	}
	if err != nil {
		return nil, nil, -1, fmt.Errorf("exec %v: %w", cmd, err)
	}
	return stdout.Bytes(), stderr.Bytes(), 0, nil
}
