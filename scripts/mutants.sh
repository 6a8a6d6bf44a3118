#!/usr/bin/env bash
# One shard of the mutation run: cargo-mutants over backup/src (.cargo/mutants.toml: each mutant
# is tested by backup's own tests and by the simulation's fixed sweep), its records written to
# mutants/shard-K-of-N.jsonl, and MUTANTS.md rendered again from every shard recorded so far.
#
#   scripts/mutants.sh 0/15      # shard 0 of 15 (about 100 mutants) on this machine
#   scripts/mutants.sh /15       # the shard JOB_COMPLETION_INDEX names (Kubernetes Indexed Job, CI matrix)
#
# Shards are round-robin over cargo-mutants' list, which is ordered by file, so every shard
# samples every file of backup/src. MUTANTS_ARGS adds cargo-mutants options (`--in-place` on a
# throwaway checkout saves copying the tree; `-j 2` on a machine with four or more cores).
# Installs cargo-mutants if missing. Exits non-zero only if the run itself broke (bad usage, or
# the unmutated tree failing its tests); missed mutants are the report's business.
set -euo pipefail
cd "$(dirname "$0")/.."
shard=${1:?usage: scripts/mutants.sh K/N (or /N with JOB_COMPLETION_INDEX set)}
case "$shard" in
    /*) shard="${JOB_COMPLETION_INDEX:?shard /N needs JOB_COMPLETION_INDEX}$shard" ;;
esac
k=${shard%/*}
n=${shard#*/}
[[ "$k" =~ ^[0-9]+$ && "$n" =~ ^[0-9]+$ && "$k" -lt "$n" ]] || { echo "mutants.sh: shard must be K/N with K < N, got $shard" >&2; exit 1; }
command -v cargo-mutants >/dev/null || cargo install cargo-mutants --locked --version 27.1.0
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
status=0
# shellcheck disable=SC2086 # MUTANTS_ARGS is a list of options
cargo mutants --shard "$shard" --sharding round-robin --output "$out" ${MUTANTS_ARGS:-} || status=$?
# 2: some mutants missed, 3: some timed out: both are results. Anything else is a broken run.
if [[ $status -ne 0 && $status -ne 2 && $status -ne 3 ]]; then
    echo "mutants.sh: cargo mutants exited $status (the logs are in $out/mutants.out; kept)" >&2
    trap - EXIT
    exit "$status"
fi
mkdir -p mutants
record="mutants/shard-$(printf %02d "$k")-of-$n.jsonl"
cargo run --release -q -p scenarios -- mutation-report collect "$out/mutants.out" > "$record"
cargo run --release -q -p scenarios -- mutation-report render mutants > MUTANTS.md
echo "mutants.sh: recorded $(wc -l < "$record") mutants in $record; MUTANTS.md:"
grep -m1 '^\*\*' MUTANTS.md
