#!/usr/bin/env bash
# A new user's first `cargo xtask serve`: clones this repository at commit $1 into
# /tmp/firstserve-$2 (no target directory), times `cargo xtask serve` until /healthz answers, with
# the peak memory of the build (max RSS in the process tree), then the release rebuild after a
# one-line change in the API layer. BENCHMARKS.md §6.
# Usage: bench/first_serve.sh <commit> <name>
set -u
commit=$1; name=$2
dir=/tmp/firstserve-$name
rm -rf "$dir"; git clone -q "$(git -C "$(dirname "$0")" rev-parse --show-toplevel)" "$dir"; cd "$dir"; git checkout -q "$commit"
unset CARGO_TARGET_DIR
port=$((20000 + RANDOM % 10000))
start=$(date +%s.%N)
/usr/bin/time -v cargo xtask serve --listen 127.0.0.1:$port > "$dir.serve.log" 2> "$dir.time.log" &
serving=$!
until curl -sf "http://127.0.0.1:$port/healthz" >/dev/null 2>&1; do
  sleep 1
  if ! kill -0 $serving 2>/dev/null; then echo "$name: serve exited"; break; fi
done
end=$(date +%s.%N)
echo "$name ($commit): first serve answered after $(echo "$end - $start" | bc) s"
pkill -TERM -f "target/release/switchboard serve --listen 127.0.0.1:$port"; wait $serving
grep -E "Maximum resident|Elapsed" "$dir.time.log"
# One-line change in the API layer, then the release rebuild the next serve needs.
f=$(ls host/server/src/api/contacts.rs 2>/dev/null || ls host/src/api/contacts.rs)
sed -i '1s|$| |' "$f"
s=$(date +%s.%N); cargo build --release -p switchboard -q 2>/dev/null; e=$(date +%s.%N)
echo "$name: release rebuild after a one-line change in $f: $(echo "$e - $s" | bc) s"
