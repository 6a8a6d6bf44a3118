#!/usr/bin/env bash
# Coverage-guided fuzzing (cargo-fuzz, libFuzzer, AddressSanitizer, nightly toolchain) of every
# decoder and parser that reads outside input. scripts/test-all.sh runs it after `cargo test`.
#
#   scripts/fuzz.sh                 every target for 10 s each (FUZZ_SECONDS overrides)
#   FUZZ_SECONDS=600 scripts/fuzz.sh manifest checkpoint
#                                   chosen targets, 10 minutes each
#
# For each target it first replays the inputs under fuzz/regressions/<target>/ (inputs that
# once failed), then fuzzes from the committed seeds (fuzz/seeds/<target>/) and the local
# corpus (fuzz/corpus/<target>/, not committed, grown by every run). A panic, a failed
# assertion, an input running longer than FUZZ_TIMEOUT seconds (a hang) or allocating past
# libFuzzer's memory limit fails the target; its input is saved under fuzz/artifacts/<target>/.
# Targets run FUZZ_JOBS at a time (default: the number of cores; libFuzzer runs one target on
# one core), each for the same time. The script runs every target, prints a table of executions
# and results in target order, and exits non-zero if any target failed.
#
# fuzz/ is its own workspace (not a member of the root one), so `cargo test` never builds it.
# `sim` needs `--cfg madsim` (it only builds in madsim's simulation mode), and since cargo-fuzz
# sets RUSTFLAGS, which overrides .cargo/config.toml's build.rustflags, it is passed here
# explicitly (model and backup never look at it). The build goes to target/fuzz.
set -euo pipefail
cd "$(dirname "$0")/.."

SECONDS_PER_TARGET=${FUZZ_SECONDS:-10}
TIMEOUT=${FUZZ_TIMEOUT:-10}
TOOLCHAIN=${FUZZ_TOOLCHAIN:-nightly}

TARGETS="statement storage_url as_of envelope manifest checkpoint data_file encryption_info crypto_open sql run_file"
JOBS=${FUZZ_JOBS:-$(nproc 2>/dev/null || echo 1)}

if ! rustup run "$TOOLCHAIN" rustc --version >/dev/null 2>&1; then
    echo "fuzz: installing the $TOOLCHAIN toolchain (libFuzzer's sanitizer flags need it)" >&2
    rustup toolchain install "$TOOLCHAIN" --profile minimal
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz: installing cargo-fuzz into ~/.cargo/bin" >&2
    cargo install cargo-fuzz --locked
fi

ONLY=("$@")
selected=()
for t in $TARGETS; do
    if [ ${#ONLY[@]} -eq 0 ] || [[ " ${ONLY[*]} " == *" $t "* ]]; then selected+=("$t"); fi
done
if [ ${#selected[@]} -eq 0 ]; then
    echo "fuzz: no target among: $*; the targets are: $TARGETS" >&2
    exit 2
fi

TARGET_DIR="$PWD/target/fuzz"
start=$SECONDS
echo "fuzz: building fuzz/" >&2
if ! (RUSTFLAGS="--cfg madsim" cargo "+$TOOLCHAIN" fuzz build --target-dir "$TARGET_DIR" 2>&1 | tail -n 20) >&2; then
    echo "fuzz: the fuzz crate did not build" >&2
    exit 1
fi
echo "fuzz: built in $((SECONDS - start)) s" >&2
# Run the built binaries directly: `cargo fuzz run` would check the build again each time.
BIN="$TARGET_DIR/$(rustup run "$TOOLCHAIN" rustc -vV | sed -n 's/^host: //p')/release"
RESULTS=$(mktemp -d)
trap 'rm -rf "$RESULTS"' EXIT

# Replays target $1's regressions, then fuzzes it; writes its table line to $RESULTS/$1 (and
# $RESULTS/$1.failed when it failed, with what the log said).
fuzz_target() {
    local t=$1 log result runs rate cov corp
    log="$RESULTS/$t.log"
    mkdir -p "fuzz/corpus/$t"
    result=ok
    # Replay the inputs that once failed (files, so libFuzzer does not add to the folder).
    if compgen -G "fuzz/regressions/$t/*" >/dev/null; then
        if ! "$BIN/$t" -timeout="$TIMEOUT" "fuzz/regressions/$t"/* >"$log" 2>&1; then
            result="REGRESSION FAILED"
        fi
    fi
    if [ "$result" = ok ]; then
        echo "fuzz: $t for $SECONDS_PER_TARGET s" >&2
        mkdir -p "fuzz/artifacts/$t"
        if ! "$BIN/$t" -artifact_prefix="$PWD/fuzz/artifacts/$t/" -max_total_time="$SECONDS_PER_TARGET" -timeout="$TIMEOUT" \
            -print_final_stats=1 "fuzz/corpus/$t" "fuzz/seeds/$t" >"$log" 2>&1; then
            result="FAILED: $(grep -o '[^ ]*/artifacts/[^ ]*' "$log" | head -n 1)"
        fi
    fi
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1 || true)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1 || true)
    cov=$(grep -o 'DONE *cov: [0-9]*' "$log" | grep -o '[0-9]*$' | tail -n 1 || true)
    corp=$(grep -o 'DONE .*corp: [0-9]*' "$log" | grep -o '[0-9]*$' | tail -n 1 || true)
    if [ "$result" != ok ]; then
        grep -E 'panicked|ERROR: libFuzzer|SUMMARY|left:|right:' "$log" | head -n 12 >"$RESULTS/$t.failed" || true
    fi
    printf '%-16s %12s %9s %6s %6s  %s\n' "$t" "${runs:--}" "${rate:--}" "${cov:--}" "${corp:--}" "$result" >"$RESULTS/$t"
}

for t in "${selected[@]}"; do
    while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do
        wait -n || true
    done
    fuzz_target "$t" &
done
wait

failed=0
printf '%-16s %12s %9s %6s %6s  %s\n' target executions "execs/s" edges corpus result
for t in "${selected[@]}"; do
    cat "$RESULTS/$t" 2>/dev/null || printf '%-16s %12s %9s %6s %6s  %s\n' "$t" - - - - "DID NOT RUN"
    if [ -f "$RESULTS/$t.failed" ] || [ ! -f "$RESULTS/$t" ]; then
        failed=1
        cat "$RESULTS/$t.failed" >&2 2>/dev/null || true
    fi
done
if [ "$failed" -ne 0 ]; then
    echo "fuzz: a target failed; its input is under fuzz/artifacts/<target>/ (replay: cargo +$TOOLCHAIN fuzz run <target> <input>)" >&2
    exit 1
fi
