package cmd

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/spf13/viper"
)

// intValue is an integer flag whose parse error reads well on its own.
type intValue struct{ p *int64 }

func (v intValue) String() string { return strconv.FormatInt(*v.p, 10) }
func (v intValue) Type() string   { return "int" }
func (v intValue) Set(s string) error {
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil {
		return fmt.Errorf("%q is not a whole number", s)
	}
	*v.p = n
	return nil
}

// floatValue is a number flag whose parse error reads well on its own.
type floatValue struct{ p *float64 }

func (v floatValue) String() string { return strconv.FormatFloat(*v.p, 'g', -1, 64) }
func (v floatValue) Type() string   { return "number" }
func (v floatValue) Set(s string) error {
	n, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || n < 0 {
		return fmt.Errorf("%q is not a positive number", s)
	}
	*v.p = n
	return nil
}

// flagError turns pflag's parse errors into one line that names the flag,
// and marks them as usage errors (exit 2) with no usage text.
func flagError(c *cobra.Command, err error) error {
	var (
		invalid  *pflag.InvalidValueError
		notExist *pflag.NotExistError
		num      *strconv.NumError
	)
	switch {
	case errors.As(err, &invalid):
		name := "--" + invalid.GetFlag().Name
		// The flag types of pflag (bool, uint64, float64) say only what
		// strconv says; ours (intValue, floatValue, durations) read well
		// on their own.
		if errors.As(invalid, &num) {
			return usageErrorf("%s: %q is not valid", name, invalid.GetValue())
		}
		return usageErrorf("%s: %v", name, errors.Unwrap(invalid))
	case errors.As(err, &notExist) && notExist.GetSpecifiedShortnames() == "":
		return unknownFlagError(c, notExist.GetSpecifiedName())
	case errors.As(err, &notExist):
		return usageErrorf("%v (see %s --help)", err, c.CommandPath())
	}
	return usageErrorf("%v", err)
}

// source says where a setting's value came from.
type source struct {
	Kind string // "flag", "env", "config", "default"
	Name string // the variable or file, when there is one
}

func (s source) String() string {
	if s.Name != "" {
		return s.Kind + " " + s.Name
	}
	return s.Kind
}

// envName is the environment variable for a flag: PARADIGM_<FLAG>.
func envName(flag string) string {
	return "PARADIGM_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// noPrecedence reports the flags that only the command line sets.
func noPrecedence(flag string) bool { return flag == "help" || flag == "config" || flag == "version" }

// defaultConfigFile is $XDG_CONFIG_HOME/paradigm-upload/config.yaml, or the
// same under ~/.config.
func defaultConfigFile(getenv func(string) string) string {
	dir := getenv("XDG_CONFIG_HOME")
	if dir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return ""
		}
		dir = filepath.Join(home, ".config")
	}
	return filepath.Join(dir, "paradigm-upload", "config.yaml")
}

// resolveSettings applies the one precedence rule — flag, then environment
// (PARADIGM_<FLAG>), then config file, then default — by setting every flag
// the command line did not set from the first source that has it. It
// returns where each flag's value came from.
//
// known are the settings the config file may hold (those of every command:
// one file serves them all); any other key is refused, with a suggestion.
func resolveSettings(fs *pflag.FlagSet, configFile string, configExplicit bool, getenv func(string) string,
	known []string) (map[string]source, error) {
	var cfg *viper.Viper
	if configFile != "" {
		_, statErr := os.Stat(configFile)
		if statErr == nil || configExplicit {
			cfg = viper.New()
			cfg.SetConfigFile(configFile)
			if filepath.Ext(configFile) == "" {
				cfg.SetConfigType("yaml")
			}
			if err := cfg.ReadInConfig(); err != nil {
				var nf viper.ConfigFileNotFoundError
				if errors.As(err, &nf) || errors.Is(err, os.ErrNotExist) {
					return nil, usageErrorf("--config: %s does not exist", configFile)
				}
				return nil, usageErrorf("config file %s: %s", configFile, oneLine(err.Error()))
			}
		}
	}
	sources := map[string]source{}
	var errs []string
	if cfg != nil {
		for _, key := range slices.Sorted(slices.Values(cfg.AllKeys())) {
			name := strings.ReplaceAll(key, "_", "-")
			if slices.Contains(known, name) {
				continue
			}
			msg := fmt.Sprintf("unknown setting %q", key)
			if s, _ := closest(name, known); s != "" {
				msg += ": did you mean " + s + "?"
			}
			errs = append(errs, msg)
		}
		if len(errs) > 0 {
			return nil, usageErrorf("config file %s: %s", configFile, strings.Join(errs, "; "))
		}
	}
	fs.VisitAll(func(f *pflag.Flag) {
		switch {
		case f.Changed:
			sources[f.Name] = source{Kind: "flag"}
			return
		case noPrecedence(f.Name):
			sources[f.Name] = source{Kind: "default"}
			return
		}
		if name := envName(f.Name); getenv(name) != "" {
			if err := f.Value.Set(getenv(name)); err != nil {
				errs = append(errs, fmt.Sprintf("%s: %v", name, err))
			}
			sources[f.Name] = source{Kind: "env", Name: name}
			return
		}
		if cfg != nil {
			for _, key := range []string{f.Name, strings.ReplaceAll(f.Name, "-", "_")} {
				if !cfg.IsSet(key) {
					continue
				}
				if err := f.Value.Set(configString(cfg.Get(key))); err != nil {
					errs = append(errs, fmt.Sprintf("%s in %s: %v", key, configFile, err))
				}
				sources[f.Name] = source{Kind: "config", Name: configFile}
				return
			}
		}
		sources[f.Name] = source{Kind: "default"}
	})
	if len(errs) > 0 {
		return nil, usageErrorf("%s", strings.Join(errs, "; "))
	}
	return sources, nil
}

// settingNames returns the settings of every command of the tree that
// takes the precedence rule: what the config file and PARADIGM_<FLAG> may
// set.
func settingNames(root *cobra.Command) []string {
	seen := map[string]bool{}
	var names []string
	add := func(c *cobra.Command) {
		c.Flags().VisitAll(func(f *pflag.Flag) {
			if !noPrecedence(f.Name) && !seen[f.Name] {
				seen[f.Name] = true
				names = append(names, f.Name)
			}
		})
	}
	add(root)
	for _, c := range root.Commands() {
		if c.Name() != "devserver" { // its flags are its own (see devserver --help)
			add(c)
		}
	}
	return names
}

// unknownEnvironment returns a warning for each PARADIGM_* variable of
// environ that matches no setting, with the one it most likely meant. The
// variables of the contract tests (PARADIGM_CONTRACT_*) and of developers'
// aids are not settings, and are left alone.
func unknownEnvironment(environ []string, known []string) []string {
	byEnv := map[string]bool{}
	envNames := make([]string, len(known))
	for i, k := range known {
		envNames[i] = envName(k)
		byEnv[envNames[i]] = true
	}
	var warnings []string
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(name, "PARADIGM_") || byEnv[name] || strings.HasPrefix(name, "PARADIGM_CONTRACT_") ||
			name == "PARADIGM_UPLOAD_CPUPROFILE" {
			continue
		}
		if s, _ := closest(name, envNames); s != "" {
			warnings = append(warnings, fmt.Sprintf("%s matches no setting: did you mean %s?", name, s))
		} else {
			warnings = append(warnings, fmt.Sprintf("%s matches no setting (see paradigm-upload --help)", name))
		}
	}
	slices.Sort(warnings)
	return warnings
}

// configString renders a config value as the flag would receive it; a YAML
// list becomes a comma-separated list.
func configString(v any) string {
	switch t := v.(type) {
	case []any:
		parts := make([]string, len(t))
		for i, e := range t {
			parts[i] = fmt.Sprint(e)
		}
		return strings.Join(parts, ",")
	case nil:
		return ""
	default:
		return fmt.Sprint(t)
	}
}
