#!/usr/bin/env bash
# Coverage-guided fuzzing (cargo-fuzz, libFuzzer, AddressSanitizer, nightly toolchain) of every
# decoder and parser that reads outside input. scripts/test-all.sh runs it after `cargo test`.
#
#   scripts/fuzz.sh                 every target for 10 s each (FUZZ_SECONDS overrides)
#   FUZZ_SECONDS=600 scripts/fuzz.sh manifest checkpoint
#                                   chosen targets, 10 minutes each
#
# For each target it first replays the inputs under <crate>/fuzz/regressions/<target>/ (inputs
# that once failed), then fuzzes from the committed seeds (<crate>/fuzz/seeds/<target>/) and the
# local corpus (<crate>/fuzz/corpus/<target>/, not committed, grown by every run). A panic, a
# failed assertion, an input running longer than FUZZ_TIMEOUT seconds (a hang) or allocating
# past libFuzzer's memory limit fails the target; its input is saved under
# <crate>/fuzz/artifacts/<target>/. The script runs every target, prints a table of executions
# and results, and exits non-zero if any target failed.
#
# The fuzz crates are their own workspaces (not members of the root one), so `cargo test` never
# builds them. sim/fuzz needs `--cfg madsim` (sim only builds in madsim's simulation mode), and
# since cargo-fuzz sets RUSTFLAGS, which overrides .cargo/config.toml's build.rustflags, it is
# passed here explicitly, to both crates (model and backup never look at it), which share one
# target directory, target/fuzz.
set -euo pipefail
cd "$(dirname "$0")/.."

SECONDS_PER_TARGET=${FUZZ_SECONDS:-10}
TIMEOUT=${FUZZ_TIMEOUT:-10}
TOOLCHAIN=${FUZZ_TOOLCHAIN:-nightly}

BACKUP_TARGETS="statement storage_url as_of envelope manifest checkpoint data_file encryption_info crypto_open sql"
SIM_TARGETS="run_file"

if ! rustup run "$TOOLCHAIN" rustc --version >/dev/null 2>&1; then
    echo "fuzz: installing the $TOOLCHAIN toolchain (libFuzzer's sanitizer flags need it)" >&2
    rustup toolchain install "$TOOLCHAIN" --profile minimal
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz: installing cargo-fuzz into ~/.cargo/bin" >&2
    cargo install cargo-fuzz --locked
fi

summary=()
failed=0

# Fuzzes the targets of the fuzz crate in $1, built with RUSTFLAGS=$2, among the names in $3
# (all of them, or those of them given on the command line).
fuzz_crate() {
    local dir=$1 flags=$2 t
    local selected=()
    for t in $3; do
        if [ ${#ONLY[@]} -eq 0 ] || [[ " ${ONLY[*]} " == *" $t "* ]]; then selected+=("$t"); fi
    done
    [ ${#selected[@]} -eq 0 ] && return 0
    local start=$SECONDS
    echo "fuzz: building $dir" >&2
    if ! (cd "$dir" && RUSTFLAGS="$flags" cargo "+$TOOLCHAIN" fuzz build --target-dir "$TARGET_DIR" 2>&1 | tail -n 20) >&2; then
        summary+=("$(printf '%-16s %12s %9s %6s %6s  %s' "$dir" - - - - "BUILD FAILED")")
        failed=1
        return 0
    fi
    echo "fuzz: $dir built in $((SECONDS - start)) s" >&2
    # Run the built binaries directly: `cargo fuzz run` would check the build again each time.
    local bin
    bin="$TARGET_DIR/$(rustup run "$TOOLCHAIN" rustc -vV | sed -n 's/^host: //p')/release"
    for t in "${selected[@]}"; do
        local log result runs rate cov corp
        log=$(mktemp)
        mkdir -p "$dir/corpus/$t"
        result=ok
        # Replay the inputs that once failed (files, so libFuzzer does not add to the folder).
        if compgen -G "$dir/regressions/$t/*" >/dev/null; then
            if ! "$bin/$t" -timeout="$TIMEOUT" "$dir/regressions/$t"/* >"$log" 2>&1; then
                result="REGRESSION FAILED"
            fi
        fi
        if [ "$result" = ok ]; then
            echo "fuzz: $t for $SECONDS_PER_TARGET s" >&2
            mkdir -p "$dir/artifacts/$t"
            if ! "$bin/$t" -artifact_prefix="$dir/artifacts/$t/" -max_total_time="$SECONDS_PER_TARGET" -timeout="$TIMEOUT" \
                -print_final_stats=1 "$dir/corpus/$t" "$dir/seeds/$t" >"$log" 2>&1; then
                result="FAILED: $(grep -o '[^ ]*/artifacts/[^ ]*' "$log" | head -n 1)"
            fi
        fi
        runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
        rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
        cov=$(grep -o 'DONE *cov: [0-9]*' "$log" | grep -o '[0-9]*$' | tail -n 1)
        corp=$(grep -o 'DONE .*corp: [0-9]*' "$log" | grep -o '[0-9]*$' | tail -n 1)
        if [ "$result" != ok ]; then
            failed=1
            grep -E 'panicked|ERROR: libFuzzer|SUMMARY|left:|right:' "$log" | head -n 12 >&2 || true
        fi
        summary+=("$(printf '%-16s %12s %9s %6s %6s  %s' "$t" "${runs:--}" "${rate:--}" "${cov:--}" "${corp:--}" "$result")")
        rm -f "$log"
    done
}

ONLY=("$@")
# One target directory and one set of flags for both crates, so that what they share (model,
# backup and their dependencies, built with the sanitizer) is built once: `--cfg madsim`, which
# sim needs and model and backup ignore.
TARGET_DIR="$PWD/target/fuzz"
fuzz_crate backup/fuzz "--cfg madsim" "$BACKUP_TARGETS"
fuzz_crate sim/fuzz "--cfg madsim" "$SIM_TARGETS"

printf '%-16s %12s %9s %6s %6s  %s\n' target executions "execs/s" edges corpus result
printf '%s\n' "${summary[@]}"
if [ "$failed" -ne 0 ]; then
    echo "fuzz: a target failed; its input is under <crate>/fuzz/artifacts/<target>/ (replay: cd <crate>/fuzz && cargo +$TOOLCHAIN fuzz run <target> <input>)" >&2
    exit 1
fi
