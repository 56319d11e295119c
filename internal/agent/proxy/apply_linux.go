package proxy

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strings"
)

// nftCommand is the command Apply and Remove feed scripts to; tests point
// it into a network namespace.
var nftCommand = []string{"nft"}

// Apply loads ruleset, as made by Ruleset, in one nft transaction: the
// old table stays in force until the new one is complete.
func Apply(ctx context.Context, ruleset string) error {
	return runNft(ctx, ruleset)
}

// Remove deletes the proxy's table, if there is one.
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
