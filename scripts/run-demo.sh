#!/usr/bin/env bash
# The demo in the foreground: web server, Celery worker and scheduler together; Ctrl-C stops all.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
PORT=${PORT:-8000}
BIN=$(dirname "$PY")

mkdir -p var
umask 077  # var/demo.json holds passwords and the key
# The demo's log-ins and a fresh phone-system key, as JSON (var/demo.json), printed for people.
"$PY" manage.py demo --json > var/demo.json
"$PY" - <<'PYEOF'
import json
demo = json.load(open("var/demo.json"))
print(f"Demo tenant {demo['tenant']!r} is ready. Sign in with:")
for key, person in demo["users"].items():
    print(f"  {key:24} {person['username']:28} {person['password']}")
print(f"Phone-system key: {demo['pbx_key']}")
PYEOF

# Each process in a process group of its own (job control), so stopping one stops its children
# too (the worker's pool and beat, the simulator); when any of them dies, or on Ctrl-C, all stop.
set -m
pids=()
seeder=""
stop() {
  trap - INT TERM EXIT
  echo "Stopping…"
  local groups=("${pids[@]}" ${seeder:+"$seeder"})
  for pid in "${groups[@]}"; do kill -TERM -- "-$pid" 2>/dev/null || true; done
  for _ in $(seq 1 20); do  # up to 10 s for a clean shut-down, then no more waiting
    alive=0
    for pid in "${groups[@]}"; do kill -0 -- "-$pid" 2>/dev/null && alive=1; done
    [ "$alive" = 0 ] && break
    sleep 0.5
  done
  for pid in "${groups[@]}"; do kill -KILL -- "-$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap stop INT TERM EXIT

"$BIN/celery" -A hiprecorder worker --queues=celery --beat --loglevel=INFO --concurrency=2 &
pids+=($!)
# Transcripts on their own queue and worker (one at a time, one thread: a 2-core laptop).
HF_HUB_OFFLINE=1 "$BIN/celery" -A hiprecorder worker --queues=transcribe --hostname="transcriber@%h" --loglevel=INFO \
  --concurrency="${TRANSCRIBE_CONCURRENCY:-1}" &
pids+=($!)
"$BIN/gunicorn" hiprecorder.wsgi --bind "127.0.0.1:$PORT" --workers 2 --threads 4 --access-logfile - &
pids+=($!)

# Seed the portal: once the server answers, a phone-system simulator sends a few dozen calls in
# every mode (speech by espeak-ng when installed) through the real telephony interface.
(
  for _ in $(seq 1 60); do
    "$PY" -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$PORT/healthz', timeout=5)" \
      >/dev/null 2>&1 && break
    sleep 1
  done
  "$PY" manage.py simulate_calls --url "http://127.0.0.1:$PORT" --demo-json var/demo.json \
    --calls "${DEMO_CALLS:-36}" --concurrency 2 --spread-hours 40 --wait 120 \
    || echo "The demo call simulator reported errors (see above)."
) &
seeder=$!  # not waited for below: the demo keeps running when the seeding is done

echo "HIP Recorder runs on http://127.0.0.1:$PORT/ (health: /healthz, support admin: /admin/). Ctrl-C stops it."
wait -n "${pids[@]}"
