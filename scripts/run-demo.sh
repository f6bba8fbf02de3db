#!/usr/bin/env bash
# The demo in the foreground: web server, Celery worker and scheduler together; Ctrl-C stops all.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
PORT=${PORT:-8000}
BIN=$(dirname "$PY")

"$PY" manage.py demo

pids=()
stop() {
  trap - INT TERM EXIT
  echo "Stopping…"
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap stop INT TERM EXIT

"$BIN/celery" -A hiprecorder worker --beat --loglevel=INFO --concurrency=2 &
pids+=($!)
"$BIN/gunicorn" hiprecorder.wsgi --bind "127.0.0.1:$PORT" --workers 2 --threads 4 --access-logfile - &
pids+=($!)

echo "HIP Recorder runs on http://127.0.0.1:$PORT/ (health: /healthz, support admin: /admin/). Ctrl-C stops it."
wait -n "${pids[@]}"
