package cmd

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// Help: every flag declares its group where it is defined (flagGroup's
// methods), and --help shows the flags group by group, within 80 columns.
// A flag added later only has to be defined through the group it belongs
// to; TestEveryFlagHasAGroup fails for one that is not.

// The groups, in the order help shows them.
const (
	groupConnection = "Connection"
	groupSelection  = "Selection"
	groupBehaviour  = "Behaviour"
	groupOutput     = "Output"
	groupServer     = "Server"
	groupFaults     = "Faults"
)

func groupOrder() []string {
	return []string{groupConnection, groupSelection, groupBehaviour, groupServer, groupFaults, groupOutput}
}

// Annotations on flags.
const (
	annGroup = "paradigm-upload/group"
	annArg   = "paradigm-upload/arg" // the placeholder of the flag's value in help
	// annUploadFlag marks the upload flags that another command takes too
	// (config), so that its help does not repeat them.
	annUploadFlag = "paradigm-upload/upload-flag"
)

// helpWidth is the width help fits in.
const helpWidth = 80

// flagGroup defines flags in one group of a flag set.
type flagGroup struct {
	fs    *pflag.FlagSet
	group string
}

func in(fs *pflag.FlagSet, group string) flagGroup { return flagGroup{fs, group} }

func (g flagGroup) mark(name, arg string) {
	_ = g.fs.SetAnnotation(name, annGroup, []string{g.group})
	if arg != "" {
		_ = g.fs.SetAnnotation(name, annArg, []string{arg})
	}
}

// String defines a string flag whose default is *p; arg names its value.
func (g flagGroup) String(p *string, name, arg, usage string) {
	g.fs.StringVar(p, name, *p, usage)
	g.mark(name, arg)
}

// StringArray defines a repeatable string flag.
func (g flagGroup) StringArray(p *[]string, name, arg, usage string) {
	g.fs.StringArrayVar(p, name, *p, usage)
	g.mark(name, arg)
}

// Bool defines a switch.
func (g flagGroup) Bool(p *bool, name, usage string) {
	g.fs.BoolVar(p, name, *p, usage)
	g.mark(name, "")
}

// BoolP defines a switch with a one-letter form.
func (g flagGroup) BoolP(p *bool, name, short, usage string) {
	g.fs.BoolVarP(p, name, short, *p, usage)
	g.mark(name, "")
}

// Duration defines a duration flag whose default is *p.
func (g flagGroup) Duration(p *time.Duration, name, usage string) {
	g.fs.DurationVar(p, name, *p, usage)
	g.mark(name, "DURATION")
}

// Float64 defines a number flag whose default is *p.
func (g flagGroup) Float64(p *float64, name, arg, usage string) {
	g.fs.Float64Var(p, name, *p, usage)
	g.mark(name, arg)
}

// Uint64 defines a whole number flag whose default is *p.
func (g flagGroup) Uint64(p *uint64, name, arg, usage string) {
	g.fs.Uint64Var(p, name, *p, usage)
	g.mark(name, arg)
}

// Value defines a flag of any pflag.Value.
func (g flagGroup) Value(v pflag.Value, name, arg, usage string) {
	g.fs.Var(v, name, usage)
	g.mark(name, arg)
}

// groupOf returns a flag's group. Cobra's own flags (--help, --version)
// are output.
func groupOf(f *pflag.Flag) string {
	if g := f.Annotations[annGroup]; len(g) > 0 {
		return g[0]
	}
	if _, ok := f.Annotations[cobra.FlagSetByCobraAnnotation]; ok {
		return groupOutput
	}
	return ""
}

// installHelp gives every command of the tree the grouped help.
func installHelp(root *cobra.Command) {
	root.SetHelpFunc(func(c *cobra.Command, _ []string) {
		_, _ = fmt.Fprint(c.OutOrStdout(), helpText(c))
	})
	root.SetUsageFunc(func(c *cobra.Command) error {
		_, err := fmt.Fprint(c.OutOrStderr(), helpText(c))
		return err
	})
}

// helpText renders a command's help: what it does, how to call it, its
// examples and subcommands, its flags by group, and its footer.
func helpText(c *cobra.Command) string {
	c.InitDefaultHelpFlag()
	c.InitDefaultVersionFlag()
	var b strings.Builder
	about := c.Long
	if about == "" {
		about = c.Short
	}
	b.WriteString(strings.TrimSpace(about) + "\n\nUsage:\n")
	if c.Runnable() {
		fmt.Fprintf(&b, "  %s\n", c.UseLine())
	}
	if hasCommands(c) {
		fmt.Fprintf(&b, "  %s COMMAND [flags]\n", c.CommandPath())
	}
	if c.Example != "" {
		b.WriteString("\nExamples:\n" + strings.TrimRight(c.Example, "\n") + "\n")
	}
	if hasCommands(c) {
		b.WriteString("\nCommands:\n")
		var rows [][2]string
		for _, sub := range c.Commands() {
			if sub.IsAvailableCommand() {
				rows = append(rows, [2]string{sub.Name(), sub.Short})
			}
		}
		writeRows(&b, rows, 14)
	}
	for _, group := range append(groupOrder(), "") {
		var rows [][2]string
		c.Flags().VisitAll(func(f *pflag.Flag) {
			if f.Hidden || groupOf(f) != group || len(f.Annotations[annUploadFlag]) > 0 {
				return
			}
			rows = append(rows, [2]string{flagSyntax(f), flagUsage(f)})
		})
		if len(rows) == 0 {
			continue
		}
		title := group
		if title == "" {
			title = "Other flags"
		}
		b.WriteString("\n" + title + ":\n")
		writeRows(&b, rows, 26)
	}
	if footer := c.Annotations["footer"]; footer != "" {
		b.WriteString("\n" + strings.TrimSpace(footer) + "\n")
	}
	if hasCommands(c) {
		fmt.Fprintf(&b, "\nRun '%s COMMAND --help' for the flags of a command.\n", c.CommandPath())
	}
	return b.String()
}

func hasCommands(c *cobra.Command) bool {
	for _, sub := range c.Commands() {
		if sub.IsAvailableCommand() {
			return true
		}
	}
	return false
}

// flagSyntax renders "-q, --quiet" or "--files-dir DIR".
func flagSyntax(f *pflag.Flag) string {
	s := "--" + f.Name
	if f.Shorthand != "" {
		s = "-" + f.Shorthand + ", " + s
	}
	if arg := f.Annotations[annArg]; len(arg) > 0 {
		s += " " + arg[0]
	} else if f.Value.Type() != "bool" {
		s += " " + strings.ToUpper(f.Value.Type())
	}
	return s
}

// flagUsage is the flag's text and its default, if it has one worth saying.
func flagUsage(f *pflag.Flag) string {
	u := f.Usage
	def := f.DefValue
	if d, err := time.ParseDuration(def); err == nil && f.Value.Type() == "duration" {
		def = shortDuration(d)
	}
	switch def {
	case "", "0", "false", "[]", "0s":
		return u
	}
	return u + " (default " + def + ")"
}

// shortDuration renders 30m0s as 30m and 1h0m0s as 1h.
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// writeRows writes two columns: the first indented by two, the second at
// column col, wrapped to helpWidth; a first column too wide for its place
// puts the second on the next line.
func writeRows(b *strings.Builder, rows [][2]string, col int) {
	for _, r := range rows {
		left := "  " + r[0]
		lines := wrap(r[1], helpWidth-col)
		if len(lines) == 0 {
			lines = []string{""}
		}
		if len(left) <= col-2 {
			b.WriteString(left + strings.Repeat(" ", col-len(left)) + lines[0] + "\n")
			lines = lines[1:]
		} else {
			b.WriteString(left + "\n")
		}
		for _, l := range lines {
			b.WriteString(strings.Repeat(" ", col) + l + "\n")
		}
	}
}

// wrap breaks s into lines of at most n columns, at spaces.
func wrap(s string, n int) []string {
	var lines []string
	line := ""
	for _, w := range strings.Fields(s) {
		switch {
		case line == "":
			line = w
		case len([]rune(line))+1+len([]rune(w)) <= n:
			line += " " + w
		default:
			lines = append(lines, line)
			line = w
		}
	}
	if line != "" {
		lines = append(lines, line)
	}
	return lines
}

// unknownFlagError explains an unknown flag in one line: a flag of another
// command, a likely typo, or a pointer to the command's help.
func unknownFlagError(c *cobra.Command, name string) error {
	help := c.CommandPath() + " --help"
	if c.Name() == "status" && (name == "base-url" || name == "workspace-id") {
		return usageErrorf("status takes the instance and the workspace from the state file: --%s is not needed (see %s)", name, help)
	}
	suggestion, isPrefix := suggestFlag(c, name)
	if isPrefix {
		return usageErrorf("unknown flag --%s: did you mean --%s? (see %s)", name, suggestion, help)
	}
	var owners []string
	if c != c.Root() && c.Root().Flags().Lookup(name) != nil {
		owners = append(owners, "an upload (paradigm-upload --help)")
	}
	for _, other := range c.Root().Commands() {
		if other != c && other.IsAvailableCommand() && other.Flags().Lookup(name) != nil {
			owners = append(owners, other.CommandPath())
		}
	}
	if len(owners) > 0 {
		return usageErrorf("unknown flag --%s: it is a flag of %s, not of %s", name, strings.Join(owners, " and "), c.CommandPath())
	}
	if suggestion != "" {
		return usageErrorf("unknown flag --%s: did you mean --%s? (see %s)", name, suggestion, help)
	}
	return usageErrorf("unknown flag --%s (see %s)", name, help)
}

// suggestFlag returns the flag of c that name most likely meant (see
// closest).
func suggestFlag(c *cobra.Command, name string) (flagName string, isPrefix bool) {
	var names []string
	c.Flags().VisitAll(func(f *pflag.Flag) {
		if !f.Hidden {
			names = append(names, f.Name)
		}
	})
	return closest(name, names)
}

// closest returns the one of names that name most likely meant: the first
// it begins (a word left out), else the nearest at most two edits away.
func closest(name string, names []string) (best string, isPrefix bool) {
	bestDist := 3
	for _, n := range names {
		switch {
		case len(name) >= 3 && strings.HasPrefix(n, name):
			return n, true
		default:
			if d := levenshtein(name, n); d < bestDist {
				best, bestDist = n, d
			}
		}
	}
	return best, false
}

// levenshtein is the edit distance between a and b.
func levenshtein(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// noArgs refuses arguments to a command that takes none, naming them as
// what they are.
func noArgs(c *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	return usageErrorf("%s: %s takes no arguments (see %s --help)", unexpected(args), c.CommandPath(), c.CommandPath())
}

// unexpected names arguments no command takes: `unexpected argument "x"`,
// `unexpected arguments "x" and "y"`.
func unexpected(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = strconv.Quote(a)
	}
	if len(q) == 1 {
		return "unexpected argument " + q[0]
	}
	return "unexpected arguments " + strings.Join(q[:len(q)-1], ", ") + " and " + q[len(q)-1]
}

// rootArgs takes a folder given without --files-dir as --files-dir, and
// explains anything else in one line.
func rootArgs(c *cobra.Command, args []string) error {
	switch {
	case len(args) == 0:
		return nil
	case len(args) > 1 && isDir(args[0]):
		return usageErrorf("%s: paradigm-upload takes one folder to upload (%s)", unexpected(args[1:]), args[0])
	case len(args) == 1 && isDir(args[0]):
		if f := c.Flags().Lookup("files-dir"); f.Changed && f.Value.String() != args[0] {
			return usageErrorf("two folders to upload: %s and --files-dir %s; give one", args[0], f.Value.String())
		}
		return c.Flags().Set("files-dir", args[0])
	}
	arg := args[0]
	if s := c.SuggestionsFor(arg); len(s) > 0 {
		return usageErrorf("unknown command %q: did you mean %q? (see paradigm-upload --help)", arg, s[0])
	}
	if strings.ContainsAny(arg, `/\.`) || len(args) == 1 && exists(arg) {
		if !exists(arg) {
			return usageErrorf("%s does not exist (the folder to upload, or --files-dir DIR)", arg)
		}
		return usageErrorf("%s is not a folder: paradigm-upload uploads a folder (--files-dir DIR)", arg)
	}
	var names []string
	for _, sub := range c.Commands() {
		if sub.IsAvailableCommand() {
			names = append(names, sub.Name())
		}
	}
	slices.Sort(names)
	return usageErrorf("unknown command %q: the commands are %s; to upload a folder, give it (or --files-dir DIR)",
		arg, strings.Join(names, ", "))
}

func isDir(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}

func exists(p string) bool {
	_, err := os.Lstat(p)
	return err == nil
}
