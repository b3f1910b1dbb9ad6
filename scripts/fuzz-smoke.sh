#!/usr/bin/env bash
# Coverage-guided fuzzing of every target in fuzz/Cargo.toml (nightly and
# cargo-fuzz, libFuzzer with AddressSanitizer), FUZZ_SECONDS each, from the
# seeds in fuzz/seeds, new inputs kept in fuzz/corpus (ignored by git).
# Fails, saying why, when a target does not build, crashes, leaks, times out or
# runs out of memory; prints each target's executions and coverage at the end.
set -uo pipefail
cd "$(dirname "$0")/../fuzz"
seconds="${FUZZ_SECONDS:-20}"
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked || exit 1
targets=$(awk '/^\[\[bin\]\]/ {bin = 1; next} bin && /^name *=/ {gsub(/[" ]/, "", $0); sub(/^name=/, "", $0); print; bin = 0}' Cargo.toml)
[ -n "$targets" ] || { echo "fuzz-smoke: no targets found in fuzz/Cargo.toml"; exit 1; }
mkdir -p logs
failed=0
table="target|executions|coverage (edges)|features|result"
for target in $targets; do
  log="logs/$target.log"
  if ! cargo +nightly fuzz build "$target" > "logs/$target.build.log" 2>&1; then
    echo "fuzz-smoke: $target does not build:"
    tail -n 20 "logs/$target.build.log"
    table+=$'\n'"$target|-|-|-|does not build"
    failed=1
    continue
  fi
  mkdir -p "corpus/$target"
  cargo +nightly fuzz run "$target" "corpus/$target" "seeds/$target" -- \
    -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 > "$log" 2>&1
  status=$?
  executions=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  done_line=$(grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -n 1)
  coverage=$(echo "$done_line" | sed -n 's/.*cov: \([0-9]*\).*/\1/p')
  features=$(echo "$done_line" | sed -n 's/.*ft: \([0-9]*\).*/\1/p')
  if [ "$status" -ne 0 ] || [ -z "$done_line" ]; then
    reason=$(grep -m 1 -E 'ERROR: (libFuzzer|AddressSanitizer|LeakSanitizer)|panicked at|out-of-memory|timeout after' "$log")
    echo "fuzz-smoke: $target failed (exit $status): ${reason:-see fuzz/$log}"
    tail -n 30 "$log"
    table+=$'\n'"$target|${executions:--}|${coverage:--}|${features:--}|FAILED: ${reason:-exit $status}"
    failed=1
  else
    table+=$'\n'"$target|$executions|$coverage|$features|ok"
  fi
done
echo
echo "fuzz-smoke, $seconds s per target:"
echo "$table" | column -t -s '|'
exit "$failed"
