// Package buildinfo holds the version, commit and build date, set by the
// release build's -ldflags and otherwise read from the module information
// that `go install` records.
package buildinfo

import (
	"cmp"
	"runtime/debug"
	"sync"
)

// Set with -ldflags "-X github.com/paradigm-upload/paradigm-upload/internal/buildinfo.Version=..."
var (
	Version = ""
	Commit  = ""
	Date    = ""
)

// Info returns version, commit and date, with fallbacks for builds made
// without ldflags: the module version and VCS stamps Go records.
func Info() (version, commit, date string) {
	i := info()
	return i[0], i[1], i[2]
}

var info = sync.OnceValue(func() [3]string {
	version, commit, date := Version, Commit, Date
	if bi, ok := debug.ReadBuildInfo(); ok {
		if version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch {
			case s.Key == "vcs.revision" && commit == "":
				commit = s.Value
			case s.Key == "vcs.time" && date == "":
				date = s.Value
			}
		}
	}
	return [3]string{cmp.Or(version, "dev"), cmp.Or(commit, "unknown"), cmp.Or(date, "unknown")}
})

// UserAgent names the tool and its version for HTTP requests.
func UserAgent() string {
	v, _, _ := Info()
	return "paradigm-upload/" + v
}
