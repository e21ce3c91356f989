#!/usr/bin/env bash
# The newcomer's first command (make demo): start the local stand-in for
# Paradigm on a free loopback port, upload the sample tree, show the summary
# and the processing status, and stop the server. Needs only Go.
set -euo pipefail

bin=${BIN:-bin/paradigm-upload}
work=$(mktemp -d)
server_pid=""
cleanup() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

export PARADIGM_API_KEY=demo-key
"$bin" devserver --addr 127.0.0.1:0 --addr-file "$work/addr" --data-dir "$work/received" \
  --pace 300ms --fail-pattern '*corrupt*' 2>"$work/devserver.log" &
server_pid=$!
for _ in $(seq 1 100); do [ -s "$work/addr" ] && break; sleep 0.1; done
[ -s "$work/addr" ] || { echo "devserver did not start:" >&2; cat "$work/devserver.log" >&2; exit 1; }
export PARADIGM_BASE_URL=$(cat "$work/addr")

run() { printf '\n$ %s\n' "$*"; "$@"; }

# Exit code 3 is expected from the first upload and from status: the sample
# holds a scan the server fails to process on purpose.
expect3() {
  local status=0
  run "$@" || status=$?
  [ "$status" -eq 3 ] || { echo "unexpected exit code $status" >&2; exit 1; }
}

echo "Local Paradigm stand-in listening on $PARADIGM_BASE_URL (workspace 42)."
echo "Upload, then follow processing until every document is done (--wait):"
expect3 "$bin" --files-dir examples/sample-docs --workspace-id 42 --tags 1,2 \
  --exclude-extensions tmp,.DS_Store --state-file "$work/upload_state.json" --wait
echo "(exit 3: processing failed for the scan the stand-in fails on purpose)"

echo
echo "Later, status asks the service again about every document the state file records:"
expect3 "$bin" status --state-file "$work/upload_state.json"
echo "(exit 3 again: the same scan)"

echo
echo "Rerunning with the same state file uploads nothing:"
run "$bin" --files-dir examples/sample-docs --workspace-id 42 --tags 1,2 \
  --exclude-extensions tmp,.DS_Store --state-file "$work/upload_state.json"

# A night later, in a copy of the folder (times kept: cp -p): one file
# edited, one only touched, one removed. The sync replaces the edited
# document in place, sends nothing for the touched file, and with --delete
# removes the document of the file that is gone; the other four are already
# done. (A new state file: the run asks the service what it has.)
cp -Rp examples/sample-docs "$work/docs"
echo "one more line" >> "$work/docs/notes/meeting.md"
touch "$work/docs/web/travel-policy.html"
rm "$work/docs/data/figures.csv"
echo
echo "A night later: one file edited, one touched, one removed (--delete):"
run "$bin" --files-dir "$work/docs" --workspace-id 42 --tags 1,2 \
  --exclude-extensions tmp,.DS_Store --state-file "$work/sync_state.json" --delete
