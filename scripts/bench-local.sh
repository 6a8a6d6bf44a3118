#!/usr/bin/env bash
# Benchmark of the real BACKUP / RESTORE against a local directory, `cp` and restic, in one run:
#   scripts/bench-local.sh [--mib N] [--row-bytes N] [--dir DIR] [--keep]
# Installs restic from Debian's packages if it is missing (as root), builds the release binary,
# runs `backup-sim bench-local` and prints its table (throughput and peak memory).
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v restic >/dev/null; then
    echo "bench-local: installing restic (apt-get)" >&2
    apt-get update -qq >&2 && apt-get install -y -qq restic >&2
fi
cargo build --release -p scenarios --bin backup-sim >&2
exec target/release/backup-sim bench-local "$@"
