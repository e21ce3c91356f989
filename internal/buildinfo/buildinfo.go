// Package buildinfo holds the version, commit and build date, set by the
// release build's -ldflags and otherwise read from the module information
// that `go install` records.
package buildinfo

import (
	"runtime/debug"
	"sync"
)

// Set with -ldflags "-X github.com/paradigm-upload/paradigm-upload/internal/buildinfo.Version=..."
var (
	Version = ""
	Commit  = ""
	Date    = ""
)

var once sync.Once

// Info returns version, commit and date, with fallbacks for builds made
// without ldflags.
func Info() (version, commit, date string) {
	once.Do(func() {
		bi, ok := debug.ReadBuildInfo()
		if !ok {
			return
		}
		if Version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			Version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				if Commit == "" {
					Commit = s.Value
				}
			case "vcs.time":
				if Date == "" {
					Date = s.Value
				}
			}
		}
	})
	version, commit, date = Version, Commit, Date
	if version == "" {
		version = "dev"
	}
	if commit == "" {
		commit = "unknown"
	}
	if date == "" {
		date = "unknown"
	}
	return version, commit, date
}

// UserAgent names the tool and its version for HTTP requests.
func UserAgent() string {
	v, _, _ := Info()
	return "paradigm-upload/" + v
}
