package cmd

import (
	"encoding/json"
	"fmt"
	"runtime"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/paradigm-upload/paradigm-upload/internal/buildinfo"
)

// newConfigCmd prints the effective settings of an upload and where each
// came from. It takes the upload's flags, so that
// `paradigm-upload config --batch-size 20` shows what that run would use.
func newConfigCmd(f *Factory) *cobra.Command {
	o := newUploadOptions()
	var asJSON bool
	c := &cobra.Command{
		Use:   "config [upload flags]",
		Short: "Show the settings an upload would use, and where each came from",
		Long: `config resolves the settings an upload with the same flags would use — each
from its flag, else PARADIGM_<FLAG> in the environment, else the config file,
else its default — checks them as an upload would (a value out of range, an
unknown key in the config file: exit 2), and prints each with its source. The
API key is never shown.

config takes every flag of an upload (see paradigm-upload --help), so that
'paradigm-upload config --batch-size 20' shows what that upload would use.`,
		Args: noArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if err := o.conn.resolve(c, f); err != nil {
				return err
			}
			// The values an upload would refuse are refused here too.
			if _, err := o.validate(f.Getenv, false); err != nil {
				return err
			}
			if _, err := o.conn.check(o.conn.BaseURL); err != nil {
				return err
			}
			type row struct {
				Name   string `json:"name"`
				Value  string `json:"value"`
				Source string `json:"source"`
			}
			var rows []row
			c.Flags().VisitAll(func(fl *pflag.Flag) {
				if fl.Name == "help" || fl.Name == "json" {
					return
				}
				v := fl.Value.String()
				if (fl.Name == "api-key") && v != "" {
					v = "(set, not shown)"
				}
				rows = append(rows, row{fl.Name, v, o.conn.sources[fl.Name].String()})
			})
			if asJSON {
				enc := json.NewEncoder(f.IOStreams.Out)
				enc.SetIndent("", "  ")
				return enc.Encode(rows)
			}
			cfg := o.conn.Config
			if cfg == "" {
				cfg = defaultConfigFile(f.Getenv) + " (if present)"
			}
			fmt.Fprintf(f.IOStreams.Out, "config file: %s\n", cfg)
			tw := tabwriter.NewWriter(f.IOStreams.Out, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "SETTING\tVALUE\tFROM")
			for _, r := range rows {
				fmt.Fprintf(tw, "%s\t%s\t%s\n", r.Name, r.Value, r.Source)
			}
			return tw.Flush()
		},
	}
	o.bind(c.Flags())
	c.Flags().VisitAll(func(fl *pflag.Flag) { _ = c.Flags().SetAnnotation(fl.Name, annUploadFlag, []string{"true"}) })
	in(c.Flags(), groupOutput).Bool(&asJSON, "json", "print JSON instead of a table")
	return c
}

func newVersionCmd(f *Factory) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Args:  noArgs,
		Short: "Print the version, commit and build date",
		RunE: func(*cobra.Command, []string) error {
			v, commit, date := buildinfo.Info()
			_, err := fmt.Fprintf(f.IOStreams.Out, "paradigm-upload %s\ncommit %s\nbuilt %s\n%s %s/%s\n", v, commit, date,
				runtime.Version(), runtime.GOOS, runtime.GOARCH)
			return err
		},
	}
}

// newCompletionCmd prints a shell completion script.
func newCompletionCmd(f *Factory) *cobra.Command {
	return &cobra.Command{
		Use:   "completion bash|zsh|fish|powershell",
		Short: "Print a shell completion script",
		Long: `completion prints the script that completes paradigm-upload's commands and
flags in bash, zsh, fish or PowerShell.

  bash (needs bash-completion), this shell only:
      source <(paradigm-upload completion bash)
  bash, every shell (Linux):
      paradigm-upload completion bash > /etc/bash_completion.d/paradigm-upload
  zsh (with compinit enabled):
      paradigm-upload completion zsh > "${fpath[1]}/_paradigm-upload"
  fish:
      paradigm-upload completion fish \
          > ~/.config/fish/completions/paradigm-upload.fish
  PowerShell:
      paradigm-upload completion powershell | Out-String | Invoke-Expression`,
		ValidArgs: []string{"bash", "zsh", "fish", "powershell"},
		Args:      cobra.MatchAll(cobra.ExactArgs(1), cobra.OnlyValidArgs),
		RunE: func(c *cobra.Command, args []string) error {
			root, out := c.Root(), f.IOStreams.Out
			switch args[0] {
			case "bash":
				return root.GenBashCompletionV2(out, true)
			case "zsh":
				return root.GenZshCompletion(out)
			case "fish":
				return root.GenFishCompletion(out, true)
			}
			return root.GenPowerShellCompletionWithDesc(out)
		},
	}
}
