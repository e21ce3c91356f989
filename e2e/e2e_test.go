// Package e2e runs the real paradigm-upload binary against the real
// `paradigm-upload devserver`, both as separate processes on loopback,
// driven by testscript scripts in testdata/.
package e2e

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/paradigm-upload/paradigm-upload/cmd"
)

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"paradigm-upload": func() { os.Exit(cmd.Main()) },
	})
}

func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata",
		RequireExplicitExec: true,
		Setup: func(env *testscript.Env) error {
			env.Setenv("PARADIGM_API_KEY", "e2e-secret-key-000")
			env.Setenv("XDG_CONFIG_HOME", filepath.Join(env.WorkDir, ".config"))
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"waitserver": waitServer,
			"pu":         runExpectingExit,
			"devstat":    devStat,
			"arrived":    arrived,
			"jsonlines":  jsonLines,
		},
	})
}

// waitserver FILE: wait for the devserver to write its URL to FILE, then
// point PARADIGM_BASE_URL at it (and DEVSERVER_HOSTPORT at its host:port).
func waitServer(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 1 || neg {
		ts.Fatalf("usage: waitserver FILE")
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		b, err := os.ReadFile(ts.MkAbs(args[0]))
		if err == nil && bytes.HasSuffix(b, []byte("\n")) {
			url := strings.TrimSpace(string(b))
			ts.Setenv("PARADIGM_BASE_URL", url)
			ts.Setenv("DEVSERVER_HOSTPORT", strings.TrimPrefix(url, "http://"))
			return
		}
		if time.Now().After(deadline) {
			ts.Fatalf("devserver did not start: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// pu CODE ARGS...: run paradigm-upload, check its exit code, and keep its
// output in the files "stdout" and "stderr" of the work folder.
func runExpectingExit(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) < 1 || neg {
		ts.Fatalf("usage: pu CODE [ARGS...]")
	}
	want, err := strconv.Atoi(args[0])
	ts.Check(err)
	path := ""
	for _, dir := range filepath.SplitList(ts.Getenv("PATH")) {
		if p := filepath.Join(dir, "paradigm-upload"); fileExists(p) {
			path = p
			break
		}
	}
	if path == "" {
		ts.Fatalf("paradigm-upload not found in PATH")
	}
	c := exec.Command(path, args[1:]...)
	c.Dir = ts.Getenv("WORK")
	c.Env = environ(ts)
	var out, errOut bytes.Buffer
	c.Stdout, c.Stderr = &out, &errOut
	err = c.Run()
	got := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		got = ee.ExitCode()
	} else if err != nil {
		ts.Fatalf("run: %v", err)
	}
	ts.Check(os.WriteFile(ts.MkAbs("stdout"), out.Bytes(), 0o644))
	ts.Check(os.WriteFile(ts.MkAbs("stderr"), errOut.Bytes(), 0o644))
	ts.Logf("exit %d\n--- stdout\n%s--- stderr\n%s", got, out.String(), errOut.String())
	if got != want {
		ts.Fatalf("exit code %d, want %d", got, want)
	}
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}

// environ is the script's environment for a child process.
func environ(ts *testscript.TestScript) []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if v := ts.Getenv(k); v != "" {
			env = append(env, k+"="+v)
		}
	}
	keys := append([]string{"XDG_CONFIG_HOME", "HOME", "WORK", "PATH", "TMPDIR", "NO_COLOR"}, passedThrough...)
	for _, flag := range settableByEnv {
		keys = append(keys, "PARADIGM_"+strings.ToUpper(strings.ReplaceAll(flag, "-", "_")))
	}
	for _, k := range keys {
		if v := ts.Getenv(k); v != "" {
			env = append(env, k+"="+v)
		}
	}
	return env
}

// settableByEnv are the flags scripts may set through PARADIGM_<FLAG>.
var settableByEnv = []string{
	"api-key", "base-url", "files-dir", "workspace-id", "batch-size", "max-fails", "tags", "state-file",
	"include-extensions", "exclude-extensions", "parser", "max-file-size", "retries", "rate-limit", "quiet", "shard",
	"log-format",
}

// passedThrough are other variables scripts may set for the binary.
var passedThrough = []string{"JOB_COMPLETION_INDEX"}

// devstat NAME VALUE: the devserver's counter NAME equals VALUE.
func devStat(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: devstat NAME VALUE")
	}
	resp, err := http.Get(ts.Getenv("PARADIGM_BASE_URL") + "/_devserver/stats")
	ts.Check(err)
	defer resp.Body.Close()
	var st map[string]int64
	ts.Check(json.NewDecoder(resp.Body).Decode(&st))
	v, ok := st[args[0]]
	if !ok {
		ts.Fatalf("no counter %q in %v", args[0], st)
	}
	equal := strconv.FormatInt(v, 10) == args[1]
	if equal == neg {
		ts.Fatalf("devserver %s = %d (want %s%s)", args[0], v, map[bool]string{true: "not "}[neg], args[1])
	}
}

// arrived DATADIR TREE [EXCEPT...]: every file under TREE, except those
// named, arrived in the devserver's DATADIR exactly once, byte for byte;
// the named ones never arrived; nothing else arrived.
func arrived(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) < 2 || neg {
		ts.Fatalf("usage: arrived DATADIR TREE [EXCEPT...]")
	}
	except := map[string]bool{}
	for _, e := range args[2:] {
		except[e] = true
	}
	f, err := os.Open(ts.MkAbs(filepath.Join(args[0], "manifest.jsonl")))
	ts.Check(err)
	defer f.Close()
	got := map[string]int{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var m struct {
			SHA256 string `json:"sha256"`
			Path   string `json:"path"`
		}
		ts.Check(json.Unmarshal(sc.Bytes(), &m))
		// The stored copy must match its recorded hash.
		b, err := os.ReadFile(filepath.Join(ts.MkAbs(args[0]), m.Path))
		ts.Check(err)
		if sum := sha256.Sum256(b); hex.EncodeToString(sum[:]) != m.SHA256 {
			ts.Fatalf("%s does not match its hash", m.Path)
		}
		got[m.SHA256]++
	}
	want := map[string]string{}
	root := ts.MkAbs(args[1])
	ts.Check(filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		rel = filepath.ToSlash(rel)
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		h := hex.EncodeToString(sum[:])
		if except[rel] {
			if got[h] > 0 {
				ts.Fatalf("%s should not have been uploaded", rel)
			}
			return nil
		}
		if got[h] != 1 {
			ts.Fatalf("%s arrived %d times, want once", rel, got[h])
		}
		want[h] = rel
		return nil
	}))
	for h, n := range got {
		if _, ok := want[h]; !ok {
			ts.Fatalf("a document that is not in the tree arrived (%d times, sha256 %s)", n, h)
		}
	}
	ts.Logf("%s", fmt.Sprintf("%d documents arrived exactly once", len(want)))
}

// jsonlines FILE: FILE is not empty, and every line of it is a JSON object
// with a level and a message (a log/slog record).
func jsonLines(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 1 || neg {
		ts.Fatalf("usage: jsonlines FILE")
	}
	b, err := os.ReadFile(ts.MkAbs(args[0]))
	ts.Check(err)
	if len(b) == 0 {
		ts.Fatalf("%s is empty", args[0])
	}
	if !bytes.HasSuffix(b, []byte("\n")) {
		ts.Fatalf("%s does not end with a newline", args[0])
	}
	for i, line := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			ts.Fatalf("%s line %d is not JSON: %v\n%s", args[0], i+1, err, line)
		}
		if _, ok := rec["level"].(string); !ok {
			ts.Fatalf("%s line %d has no level: %s", args[0], i+1, line)
		}
		if _, ok := rec["msg"].(string); !ok {
			ts.Fatalf("%s line %d has no msg: %s", args[0], i+1, line)
		}
	}
}
