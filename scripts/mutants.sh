#!/usr/bin/env bash
# One shard of the mutation run: cargo-mutants over backup/src (.cargo/mutants.toml: each mutant
# is tested by backup's own tests and by the simulation's fixed sweep), its records written to
# mutants/shard-K-of-N.jsonl, and MUTANTS.md rendered again from every shard recorded so far.
#
#   scripts/mutants.sh 0/36      # shard 0 of 36 (about 50 mutants) on this machine
#   scripts/mutants.sh /36       # the shard JOB_COMPLETION_INDEX names (Kubernetes Indexed Job, CI matrix)
#   scripts/mutants.sh file backup/src/storage/real/object.rs   # every mutant of one file
#   scripts/mutants.sh retake     # every recorded mutant the simulation did not catch, again
#   RETAKE_ONLY='restore/publish' scripts/mutants.sh retake   # only those of matching names
#
# Shards are round-robin over cargo-mutants' list, which is ordered by file, so every shard
# samples every file of backup/src (shard k of 36 is half of shard k mod 18 of 18).
#
# The mutants are made in a throwaway git worktree of HEAD (committed code only; your checkout
# is never touched), built with the `mutants` profile in this checkout's target directory (so
# dependencies build once per machine). cargo-mutants' own baseline tests only the mutated
# package, where the simulation's test target does not exist, so this script runs the baseline
# itself — the same test targets on the unmutated tree — and fails if that does not pass.
# MUTANTS_ARGS adds cargo-mutants options (`-j 2` on four or more cores); MUTANTS_TIMEOUT is
# the seconds a mutant's tests may take (default 300, about four times the baseline).
# Installs cargo-mutants if missing. Exits non-zero only if the run itself broke; missed
# mutants are the report's business.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
usage="usage: scripts/mutants.sh K/N (or /N with JOB_COMPLETION_INDEX set) | scripts/mutants.sh file backup/src/PATH.rs | scripts/mutants.sh retake"
retake=
if [[ "${1:-}" == retake ]]; then
    # The recorded mutants the simulation did not catch (missed, or caught only by the
    # in-process tests), tested again against the grown test bed. Each is found at HEAD by its
    # rank among the same change in the same function at the commit it was recorded
    # (mutants/commits.txt), so a moved line does not lose it; the plan is made below, once the
    # worktrees exist.
    retake=1
    selection_args=()
    record_name="retake-$(date -u +%Y%m%d%H%M)-$(git rev-parse --short HEAD).jsonl"
elif [[ "${1:-}" == file ]]; then
    # Every mutant of one file: the census of a file the test bed was just extended to reach.
    file=${2:?$usage}
    [[ "$file" == backup/src/*.rs && -f "$file" ]] || { echo "mutants.sh: file must be an existing backup/src/*.rs, got $file" >&2; exit 1; }
    selection_args=(-F "^${file//./\\.}:")
    record_name="file-$(basename "$(dirname "$file")")-$(basename "$file" .rs).jsonl"
else
    shard=${1:?$usage}
    case "$shard" in
        /*) shard="${JOB_COMPLETION_INDEX:?shard /N needs JOB_COMPLETION_INDEX}$shard" ;;
    esac
    k=${shard%/*}
    n=${shard#*/}
    [[ "$k" =~ ^[0-9]+$ && "$n" =~ ^[0-9]+$ && "$k" -lt "$n" ]] || { echo "mutants.sh: shard must be K/N with K < N, got $shard" >&2; exit 1; }
    selection_args=(--shard "$shard" --sharding round-robin)
    record_name="shard-$(printf %02d "$k")-of-$n.jsonl"
fi
command -v cargo-mutants >/dev/null || cargo install cargo-mutants --locked --version 27.1.0
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target}"

tree=$(mktemp -d)
out=$(mktemp -d)
git worktree add --quiet --detach "$tree" HEAD
cleanup() { git -C "$root" worktree remove --force "$tree"; rm -rf "$out"; }
trap cleanup EXIT

if [[ -n "$retake" ]]; then
    mkdir -p "$out/lists"
    (cd "$tree" && cargo mutants --list) > "$out/lists/HEAD.txt"
    for commit in $(awk '{print $2}' mutants/commits.txt | sort -u); do
        then_tree=$(mktemp -d)
        git worktree add --quiet --detach "$then_tree" "$commit"
        (cd "$then_tree" && cargo mutants --list) > "$out/lists/$commit.txt"
        git worktree remove --force "$then_tree"
    done
    cargo run --release -q -p scenarios -- mutation-report retake-plan mutants --lists "$out/lists" > "$out/plan.tsv"
    # RETAKE_ONLY (an extended regular expression) keeps the mutants whose line of the plan
    # matches it: a retake of the file a new property was aimed at, not of every file.
    if [[ -n "${RETAKE_ONLY:-}" ]]; then
        { grep -E -- "$RETAKE_ONLY" "$out/plan.tsv" || true; } > "$out/plan.only"
        mv "$out/plan.only" "$out/plan.tsv"
    fi
    [[ -s "$out/plan.tsv" ]] || { echo "mutants.sh: every recorded mutant the simulation did not catch is gone or caught; nothing to retake" >&2; exit 0; }
    while IFS=$'\t' read -r pattern _ _; do selection_args+=(-F "$pattern"); done < "$out/plan.tsv"
    echo "mutants.sh: retaking $(wc -l < "$out/plan.tsv") mutants the simulation did not catch"
fi

# The test targets .cargo/mutants.toml selects (additional_cargo_args), for the baseline.
mapfile -t selection < <(sed -n '/^additional_cargo_args/,/^]/p' .cargo/mutants.toml | grep -o '"[^"]*"' | tr -d '"')
tested=$(git -C "$tree" rev-parse --short HEAD)
echo "mutants.sh: baseline (unmutated $tested): cargo test --profile mutants -p backup -p scenarios ${selection[*]}"
(cd "$tree" && cargo test --profile mutants -p backup -p scenarios "${selection[@]}" --no-fail-fast -q) > "$out/baseline.log" 2>&1 || {
    echo "mutants.sh: the unmutated tree fails its tests; no mutant can be judged (log: $out/baseline.log, kept)" >&2
    trap - EXIT
    git -C "$root" worktree remove --force "$tree"
    exit 1
}

status=0
# shellcheck disable=SC2086 # MUTANTS_ARGS is a list of options
(cd "$tree" && cargo mutants --in-place --baseline skip --timeout "${MUTANTS_TIMEOUT:-300}" \
    "${selection_args[@]}" --output "$out" ${MUTANTS_ARGS:-}) || status=$?
# 2: some mutants missed, 3: some timed out: both are results. Anything else is a broken run.
if [[ $status -ne 0 && $status -ne 2 && $status -ne 3 ]]; then
    echo "mutants.sh: cargo mutants exited $status (logs: $out/mutants.out, kept)" >&2
    trap - EXIT
    git -C "$root" worktree remove --force "$tree"
    exit "$status"
fi
mkdir -p mutants
record="mutants/$record_name"
if [[ -n "$retake" ]]; then
    cargo run --release -q -p scenarios -- mutation-report collect "$out/mutants.out" --retakes "$out/plan.tsv" > "$record"
else
    cargo run --release -q -p scenarios -- mutation-report collect "$out/mutants.out" > "$record"
fi
# The commit each record file was taken at: a later retake finds its mutants by it.
{ grep -v "^$record_name " mutants/commits.txt 2>/dev/null || true; echo "$record_name $tested"; } | sort > mutants/commits.txt.new
mv mutants/commits.txt.new mutants/commits.txt
cargo run --release -q -p scenarios -- mutation-report render mutants > MUTANTS.md
echo "mutants.sh: recorded $(wc -l < "$record") mutants of $tested (the commit the worktree was made from; HEAD may have moved since) in $record; MUTANTS.md:"
grep -m1 '^\*\*' MUTANTS.md
