#!/usr/bin/env bash
# Every test: the README's test command and what .ci/run runs.
#
# 1. `cargo test` over the workspace — the simulation scenarios, the in-process end-to-end
#    tests, the property tests, the snapshots — with the local storage servers of
#    scripts/test-servers.sh (S3: moto, Azure: Azurite, http: WsgiDAV) installed into .tools/ and
#    started on 127.0.0.1, so the real-backend tests run against them and a server that did not
#    come up is a failure. Without python3 and npm the servers cannot be installed: the script
#    says so and those tests print "skipped" (everything else still runs). The browser tests
#    (scenarios/tests/browser/: the shell's Jobs page, the sweep report, in headless Chromium)
#    run against Debian's chromium and chromium-driver, installed with apt-get when missing
#    (needs root or password-less sudo); once `chromium --version` and `chromedriver --version`
#    both answer (an Ubuntu snap stub installs but does not run), BACKUP_SIM_REQUIRE_BROWSER=1 makes a
#    browser that does not start a failure, and where they cannot be installed the script says
#    so and those tests print "skipped".
# 2. The planted-bug build: every planted bug must be caught within its seed budget.
# 3. scripts/fuzz.sh: every fuzz target (fuzz/) for 10 s each, two at a time on 2 cores, after
#    replaying its regression inputs; any panic, hang or runaway allocation fails. Needs the
#    nightly toolchain; installs cargo-fuzz if missing. FUZZ_SECONDS changes the time per target.
#
# First, the house rules that need no test run: `cargo fmt --check` (rustfmt.toml: 160 columns)
# over the workspace and the fuzz crate, and `cargo clippy --all-targets -D warnings` (a
# warning is an error here). rustfmt and clippy come with the stable toolchain (rustup
# component add installs them where a minimal profile left them out).
#
# The servers' install (pip and npm, about 100 s of downloads on a fresh machine) and the
# browser's (apt-get, 120 MB, about 20 s here) run in the background while clippy compiles;
# `test-servers.sh run` then finds the servers installed (or, if the background install failed,
# installs again and says why it cannot). A failure before then (fmt, clippy) stops both installs
# on the way out (the EXIT trap), so no apt-get is left holding the dpkg lock.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian's chromium and chromium-driver for the browser tests, unless both are already there.
install_browser() {
    if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then
        echo "chromium and chromedriver are installed"
        return 0
    fi
    local sudo=()
    if [ "$(id -u)" != 0 ]; then
        if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
            sudo=(sudo -n)
        else
            echo "not root and no password-less sudo: cannot apt-get install chromium chromium-driver"
            return 1
        fi
    fi
    if ! command -v apt-get >/dev/null; then
        echo "no apt-get: cannot install chromium chromium-driver"
        return 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    # Stale or missing package lists make the install fail: update them then and try again.
    ${sudo[@]+"${sudo[@]}"} apt-get install -y --no-install-recommends chromium chromium-driver ||
        { ${sudo[@]+"${sudo[@]}"} apt-get update && ${sudo[@]+"${sudo[@]}"} apt-get install -y --no-install-recommends chromium chromium-driver; }
}
mkdir -p .tools
install_browser >.tools/browser-install.log 2>&1 &
browser_pid=$!
install_pid=
# If fmt or clippy fails, set -e ends the script here and there: stop the background installs
# with it rather than leave apt-get holding the dpkg lock (or pip and npm downloading) behind.
stop_installs() {
    local pid
    for pid in "$browser_pid" "$install_pid"; do
        if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
            pkill -TERM -P "$pid" 2>/dev/null || true
            kill -TERM "$pid" 2>/dev/null || true
        fi
    done
}
trap stop_installs EXIT

servers=0
if command -v python3 >/dev/null && command -v npm >/dev/null; then
    servers=1
    mkdir -p .tools
    scripts/test-servers.sh install >.tools/install.log 2>&1 &
    install_pid=$!
fi
rustup component add rustfmt clippy >/dev/null 2>&1 || true
cargo fmt --all --check
(cd fuzz && cargo fmt --check)
cargo clippy --workspace --all-targets -- -D warnings
# apt-get may succeed and still leave no browser that runs (Ubuntu's chromium packages are
# stubs that ask for the snap): require both programs to answer --version.
if wait "$browser_pid" && chromium --version >>.tools/browser-install.log 2>&1 && chromedriver --version >>.tools/browser-install.log 2>&1; then
    export BACKUP_SIM_REQUIRE_BROWSER=1
else
    echo "test-all: chromium and chromium-driver could not be installed, or do not run (.tools/browser-install.log): the browser tests will say skipped" >&2
    tail -n 5 .tools/browser-install.log >&2
fi
browser_pid= # waited for: nothing for the trap to stop (its pid may be another's by now)
if [ "$servers" = 1 ]; then
    wait "$install_pid" || echo "test-all: the background server install failed (.tools/install.log); trying again" >&2
    install_pid=
    cat .tools/install.log >&2
    scripts/test-servers.sh run cargo test
else
    echo "test-all: python3 or npm missing: the S3/Azure/http server tests will be skipped" >&2
    cargo test
fi
cargo test -p scenarios --features planted-bugs --test mutants
scripts/fuzz.sh
