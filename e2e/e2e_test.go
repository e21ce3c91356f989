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
	"log-format", "no-external-id",
}

// passedThrough are other variables scripts may set for the binary.
var passedThrough = []string{"JOB_COMPLETION_INDEX", "PARADIGM_BATCHSIZE"} // (the second: a misspelt setting)

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
		ts.Fatalf("devserver %s = %d (want %s%s); every counter: %v", args[0], v, map[bool]string{true: "not "}[neg], args[1], st)
	}
}

// arrived DATADIR TREE [EXCEPT...]: the documents in the devserver's
// DATADIR are the files under TREE, except those named: each arrived as
// exactly one document, byte for byte; the named ones are in no document;
// there is no other document. Only the current content of the documents
// that still exist counts: the manifest is replayed (create, replace,
// delete; update lines change no content).
func arrived(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) < 2 || neg {
		ts.Fatalf("usage: arrived DATADIR TREE [EXCEPT...]")
	}
	n, err := checkArrived(ts.MkAbs(args[0]), ts.MkAbs(args[1]), args[2:])
	if err != nil {
		ts.Fatalf("%v", err)
	}
	ts.Logf("%d documents, each a file of the tree, byte for byte", n)
}

// checkArrived is arrived's check; it returns how many documents there are.
func checkArrived(dataDir, tree string, exceptions []string) (int, error) {
	except := map[string]bool{}
	for _, e := range exceptions {
		except[e] = true
	}
	f, err := os.Open(filepath.Join(dataDir, "manifest.jsonl"))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	type content struct{ sha256, path string }
	current := map[int64]content{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var m struct {
			Op     string `json:"op"`
			ID     int64  `json:"id"`
			SHA256 string `json:"sha256"`
			Path   string `json:"path"`
		}
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			return 0, err
		}
		switch m.Op {
		case "create", "replace":
			current[m.ID] = content{m.SHA256, m.Path}
		case "delete":
			delete(current, m.ID)
		case "update":
		default:
			return 0, fmt.Errorf("manifest line with op %q", m.Op)
		}
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	got := map[string]int{}
	for _, c := range current {
		// The stored copy must match its recorded hash.
		b, err := os.ReadFile(filepath.Join(dataDir, c.path))
		if err != nil {
			return 0, err
		}
		if sum := sha256.Sum256(b); hex.EncodeToString(sum[:]) != c.sha256 {
			return 0, fmt.Errorf("%s does not match its hash", c.path)
		}
		got[c.sha256]++
	}
	want := map[string]string{}
	err = filepath.WalkDir(tree, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(tree, p)
		rel = filepath.ToSlash(rel)
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		h := hex.EncodeToString(sum[:])
		if except[rel] {
			if got[h] > 0 {
				return fmt.Errorf("%s should not have been uploaded", rel)
			}
			return nil
		}
		if got[h] != 1 {
			return fmt.Errorf("%s is in %d documents, want one", rel, got[h])
		}
		want[h] = rel
		return nil
	})
	if err != nil {
		return 0, err
	}
	for h, n := range got {
		if _, ok := want[h]; !ok {
			return 0, fmt.Errorf("%d document(s) hold content that is not in the tree (sha256 %s)", n, h)
		}
	}
	return len(want), nil
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
