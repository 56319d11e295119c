package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/bosun-sh/bosun/internal/encryption"
	"github.com/bosun-sh/bosun/internal/server"
)

func newSecretsEncryptCommand(stdout io.Writer) *cobra.Command {
	cfg := server.Defaults()
	cmd := &cobra.Command{
		Use:   "secrets-encrypt",
		Short: "Show or rotate the keys Secrets are encrypted with at rest",
	}
	pf := cmd.PersistentFlags()
	pf.StringVar(&cfg.DataDir, "data-dir", cfg.DataDir, "data directory of the server")
	pf.StringVar(&cfg.SecretsEncryptionKeyFile, "secrets-encryption-key-file", "", "key file of the server (default: DATA_DIR/"+encryption.DefaultKeyFile+")")
	cmd.MarkFlagsMutuallyExclusive("data-dir", "secrets-encryption-key-file")

	cmd.AddCommand(&cobra.Command{
		Use:   "status",
		Short: "Print the key file and its key names; the first one encrypts",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			path := server.SecretsEncryptionKeyFile(cfg)
			keys, err := encryption.ReadKeyFile(path)
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "key file: %s\n", path)
			for i, k := range keys {
				role := "decrypts"
				if i == 0 {
					role = "encrypts new writes, decrypts"
				}
				fmt.Fprintf(stdout, "  %s\t%s\n", k.Name, role)
			}
			return nil
		},
	})
	cmd.AddCommand(&cobra.Command{
		Use:   "rotate",
		Short: "Put a new key first in the key file, keeping the old ones",
		Long: "Put a new key first in the key file, keeping the old ones so existing Secrets still decrypt.\n" +
			"The next server start re-encrypts every Secret under the new key; after that the old keys\n" +
			"may be removed from the file.",
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			path := server.SecretsEncryptionKeyFile(cfg)
			keys, err := encryption.Rotate(path)
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "added key %s to %s; it encrypts from the next server start\n", keys[0].Name, path)
			if len(keys) > 1 {
				fmt.Fprintf(stdout, "kept %d older key(s) so existing Secrets still decrypt\n", len(keys)-1)
			}
			fmt.Fprintln(stdout, "next: restart the server; it re-encrypts every Secret under the new key and logs how many")
			return nil
		},
	})
	return cmd
}
