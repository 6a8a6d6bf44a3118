#!/usr/bin/env bash
# Local servers for the real-storage tests (backup/tests/end_to_end/real_backends.rs): an S3 server
# (moto, PyPI), an Azure Blob emulator (azurite, npm) and a WebDAV server for http://
# (wsgidav + cheroot, PyPI), all on 127.0.0.1 only, all installed into the project-local
# .tools/ directory by this script (nothing system-wide, nothing kept between machines).
#
#   scripts/test-servers.sh install          # install into .tools/ (idempotent)
#   scripts/test-servers.sh start            # install if needed, start, print `export ...` lines
#   scripts/test-servers.sh env              # print the `export ...` lines of running servers
#   scripts/test-servers.sh stop             # stop what `start` started
#   scripts/test-servers.sh run CMD ARGS...  # start, run CMD with the variables set, stop
#
#   scripts/test-servers.sh run cargo test -p backup --features real-storage --test end_to_end real_backends::
#
# The tests read BACKUP_SIM_S3_URL, BACKUP_SIM_AZURE_URL + BACKUP_SIM_AZURE_ENDPOINT and
# BACKUP_SIM_HTTP_URL; `run` also sets BACKUP_SIM_REQUIRE_SERVERS=1 so that a server that did not
# come up fails the tests instead of skipping them. Google Cloud Storage has no emulator here
# (none from the registries accepts object_store's uploads): gs is covered by builder tests.
#
# The credentials below are the emulators' published development credentials, not secrets.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
TOOLS="$ROOT/.tools"
RUN="$TOOLS/run"
VENV="$TOOLS/venv"
NPM_PREFIX="$TOOLS/npm"

MOTO_VERSION=5.2.5
WSGIDAV_VERSION=4.4.0
CHEROOT_VERSION=11.1.2
AZURITE_VERSION=3.37.0

S3_PORT="${BACKUP_SIM_S3_PORT:-19000}"
AZURE_PORT="${BACKUP_SIM_AZURE_PORT:-19001}"
HTTP_PORT="${BACKUP_SIM_HTTP_PORT:-19002}"

S3_BUCKET=backup-sim
AZURE_CONTAINER=backups
# Azurite's well-known development account (documented by Microsoft; not a secret).
AZURE_ACCOUNT=devstoreaccount1
AZURE_KEY='Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=='

log() { echo "test-servers: $*" >&2; }

install() {
    mkdir -p "$TOOLS"
    local t0=$SECONDS
    if [ ! -x "$VENV/bin/moto_server" ] || [ ! -x "$VENV/bin/wsgidav" ]; then
        log "installing moto[server]==$MOTO_VERSION, wsgidav==$WSGIDAV_VERSION, cheroot==$CHEROOT_VERSION into $VENV"
        python3 -m venv "$VENV"
        "$VENV/bin/pip" install --quiet --disable-pip-version-check \
            "moto[server]==$MOTO_VERSION" "wsgidav==$WSGIDAV_VERSION" "cheroot==$CHEROOT_VERSION" >&2
    fi
    if [ ! -x "$NPM_PREFIX/node_modules/.bin/azurite-blob" ]; then
        log "installing azurite@$AZURITE_VERSION into $NPM_PREFIX"
        mkdir -p "$NPM_PREFIX"
        npm install --silent --no-audit --no-fund --prefix "$NPM_PREFIX" "azurite@$AZURITE_VERSION" >&2
    fi
    log "installed in $((SECONDS - t0)) s"
}

wait_port() { # name port
    for _ in $(seq 1 150); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$2") 2>/dev/null; then return 0; fi
        sleep 0.2
    done
    log "$1 did not start on 127.0.0.1:$2; see $RUN/$1.log"
    return 1
}

start_one() { # name port command...
    local name=$1 port=$2
    shift 2
    if [ -f "$RUN/$name.pid" ] && kill -0 "$(cat "$RUN/$name.pid")" 2>/dev/null; then
        log "$name already running (pid $(cat "$RUN/$name.pid"))"
        return 0
    fi
    "$@" >"$RUN/$name.log" 2>&1 &
    echo $! >"$RUN/$name.pid"
    wait_port "$name" "$port"
}

# Creates the Azure container with a SharedKey-signed request (object_store does not create
# containers). Python's standard library only.
create_azure_container() {
    "$VENV/bin/python" - "$AZURE_PORT" "$AZURE_ACCOUNT" "$AZURE_KEY" "$AZURE_CONTAINER" <<'EOF'
import base64, hashlib, hmac, sys, urllib.request, urllib.error
from email.utils import formatdate
port, account, key, container = sys.argv[1:5]
date = formatdate(usegmt=True)
version = "2021-08-06"
canon_headers = f"x-ms-date:{date}\nx-ms-version:{version}\n"
canon_resource = f"/{account}/{account}/{container}\nrestype:container"
to_sign = "PUT\n\n\n\n\n\n\n\n\n\n\n\n" + canon_headers + canon_resource
sig = base64.b64encode(hmac.new(base64.b64decode(key), to_sign.encode(), hashlib.sha256).digest()).decode()
req = urllib.request.Request(f"http://127.0.0.1:{port}/{account}/{container}?restype=container", method="PUT")
req.add_header("x-ms-date", date)
req.add_header("x-ms-version", version)
req.add_header("Content-Length", "0")
req.add_header("Authorization", f"SharedKey {account}:{sig}")
try:
    urllib.request.urlopen(req)
except urllib.error.HTTPError as e:
    if e.code != 409:  # 409: it exists already
        sys.exit(f"creating the azure container failed: {e.code} {e.read()[:300]!r}")
EOF
}

print_env() {
    cat <<EOF
export BACKUP_SIM_S3_URL='s3://$S3_BUCKET/backups?AWS_ENDPOINT=http%3A%2F%2F127.0.0.1%3A$S3_PORT&AWS_REGION=us-east-1&AWS_ACCESS_KEY_ID=testing&AWS_SECRET_ACCESS_KEY=testing-secret'
export BACKUP_SIM_AZURE_URL='azure://$AZURE_CONTAINER/backups?AZURE_ACCOUNT_NAME=$AZURE_ACCOUNT&AZURE_ACCOUNT_KEY=$(python3 -c 'import sys,urllib.parse;print(urllib.parse.quote(sys.argv[1],safe=""))' "$AZURE_KEY")'
export BACKUP_SIM_AZURE_ENDPOINT='http://127.0.0.1:$AZURE_PORT'
export BACKUP_SIM_HTTP_URL='http://127.0.0.1:$HTTP_PORT/backups'
EOF
}

start() {
    install
    mkdir -p "$RUN" "$RUN/webdav"
    start_one s3 "$S3_PORT" "$VENV/bin/moto_server" -H 127.0.0.1 -p "$S3_PORT"
    # moto accepts an unsigned bucket creation.
    curl -sf -X PUT "http://127.0.0.1:$S3_PORT/$S3_BUCKET" >/dev/null || { log "creating the s3 bucket failed"; return 1; }
    start_one azure "$AZURE_PORT" "$NPM_PREFIX/node_modules/.bin/azurite-blob" --blobHost 127.0.0.1 --blobPort "$AZURE_PORT" \
        --inMemoryPersistence --disableTelemetry --loose --skipApiVersionCheck
    create_azure_container
    start_one http "$HTTP_PORT" "$VENV/bin/wsgidav" --host 127.0.0.1 --port "$HTTP_PORT" --root "$RUN/webdav" \
        --auth anonymous --server cheroot --no-config -q
    mkdir -p "$RUN/webdav/backups"
    log "s3 on 127.0.0.1:$S3_PORT, azure on 127.0.0.1:$AZURE_PORT, http (webdav) on 127.0.0.1:$HTTP_PORT"
    print_env
}

stop() {
    local stopped=""
    for name in s3 azure http; do
        if [ -f "$RUN/$name.pid" ]; then
            kill "$(cat "$RUN/$name.pid")" 2>/dev/null || true
            rm -f "$RUN/$name.pid"
            stopped="$stopped $name"
        fi
    done
    rm -rf "$RUN/webdav"
    [ -z "$stopped" ] || log "stopped$stopped"
}

case "${1:-}" in
    install) install ;;
    start) start ;;
    env) print_env ;;
    stop) stop ;;
    run)
        shift
        [ $# -gt 0 ] || { echo "usage: $0 run CMD [ARGS...]" >&2; exit 2; }
        trap stop EXIT
        env_lines="$(start)"
        eval "$env_lines"
        export BACKUP_SIM_REQUIRE_SERVERS=1
        "$@"
        ;;
    *)
        echo "usage: $0 install|start|env|stop|run CMD [ARGS...]" >&2
        exit 2
        ;;
esac
