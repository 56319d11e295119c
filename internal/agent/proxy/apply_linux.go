package proxy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
)

// nftCommand and conntrackCommand are the commands Apply, Remove and the
// conntrack cleanup run; tests point them into a network namespace.
var (
	nftCommand       = []string{"nft"}
	conntrackCommand = []string{"conntrack"}
)

// Apply loads ruleset, as made by Ruleset, in one nft transaction: the
// old table stays in force until the new one is complete.
func Apply(ctx context.Context, ruleset string) error {
	return runNft(ctx, ruleset)
}

// Remove deletes the proxy's table, if there is one. The table holds
// every chain, map and set the proxy installs, so nothing is left.
func Remove(ctx context.Context) error {
	return runNft(ctx, fmt.Sprintf("table ip %s\ndelete table ip %s\n", Table, Table))
}

func runNft(ctx context.Context, script string) error {
	args := append(append([]string{}, nftCommand[1:]...), "-f", "-")
	cmd := exec.CommandContext(ctx, nftCommand[0], args...)
	cmd.Stdin = strings.NewReader(script)
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("nft -f: %w: %s", err, bytes.TrimSpace(out.Bytes()))
	}
	return nil
}

// errNoConntrack is returned by deleteConntrack when the conntrack tool
// is not installed.
var errNoConntrack = errors.New("conntrack tool not installed")

// deleteConntrack runs one "conntrack -D" per argument list. Finding no
// entry to delete is not an error.
func deleteConntrack(ctx context.Context, deletions [][]string) error {
	if _, err := exec.LookPath(conntrackCommand[0]); err != nil {
		return errNoConntrack
	}
	var errs []error
	for _, d := range deletions {
		args := append(append([]string{}, conntrackCommand[1:]...), d...)
		out, err := exec.CommandContext(ctx, conntrackCommand[0], args...).CombinedOutput()
		// conntrack exits 1 when nothing matched.
		if err != nil && !bytes.Contains(out, []byte("0 flow entries have been deleted")) {
			errs = append(errs, fmt.Errorf("conntrack %s: %w: %s", strings.Join(d, " "), err, bytes.TrimSpace(out)))
		}
	}
	return errors.Join(errs...)
}
