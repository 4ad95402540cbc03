#!/usr/bin/env bash
# `make tables` as a new user meets it: a clone of this repository's HEAD in an empty folder, HOME pointed at
# an empty folder (no suite, no caches, no weights), a virtualenv over the installed packages; run twice (the
# second run finds everything cached). Prints both wall times and any tracked file the runs changed.
#     bash scripts/time_fresh_clone.sh [WORK_DIR]     (default: a new temporary folder; removed unless given)
set -u
repo=$(git -C "$(dirname "$0")/.." rev-parse --show-toplevel)
work=${1:-$(mktemp -d)}
[ $# -ge 1 ] || trap 'rm -rf "$work"' EXIT
mkdir -p "$work/home"
git clone -q "$repo" "$work/clone"
python3 -m venv --system-site-packages "$work/venv"
cd "$work/clone" || exit 2
export HOME="$work/home"
for run in first second; do
  t0=$(date +%s)
  make tables PYTHON="$work/venv/bin/python" > "$work/tables-$run.log" 2>&1
  echo "$run make tables: exit $? in $(( $(date +%s) - t0 )) s (log: $work/tables-$run.log)"
done
echo "tracked files changed by the runs:"
git status --short
