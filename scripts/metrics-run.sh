#!/bin/sh
# Runs a server with metrics on, drives it with doorplate-load, and scrapes /metrics every
# 2 s into a file; then plots the dashboard's panels from it (scripts/plot-metrics.py).
#
#   scripts/metrics-run.sh [BIN_DIR] [OUT_DIR]
#
# BIN_DIR holds `doorplate` and `doorplate-load` (default target/release); OUT_DIR gets
# metrics-scrapes.txt, load-result.json and metrics.png (default: a temporary folder).
# Needs python3 with matplotlib (pip install matplotlib).
set -eu
BIN=${1:-target/release}
OUT=${2:-$(mktemp -d)}
DATA=$(mktemp -d)
PASS=load-admin-pass
PORT=${PORT:-18080}
METRICS=${METRICS:-127.0.0.1:19464}
mkdir -p "$OUT"
printf '%s' "$PASS" | "$BIN/doorplate" --data "$DATA" admin create --username admin --password-stdin >/dev/null
# The whole school comes from this one address: no per-address connection cap.
"$BIN/doorplate" --data "$DATA" serve --listen 127.0.0.1:$PORT --metrics-listen "$METRICS" \
  --max-connections-per-ip 0 >/dev/null 2>"$OUT/server.log" &
SERVER=$!
SCRAPER=
trap 'kill $SERVER $SCRAPER 2>/dev/null || true; rm -rf "$DATA"' EXIT INT TERM
sleep 1
: >"$OUT/metrics-scrapes.txt"
(
  while :; do
    printf '### %s\n' "$(date +%s.%N)" >>"$OUT/metrics-scrapes.txt"
    curl -sf "http://$METRICS/metrics" >>"$OUT/metrics-scrapes.txt" || true
    sleep 2
  done
) &
SCRAPER=$!
"$BIN/doorplate-load" --url "http://127.0.0.1:$PORT" --pid $SERVER --admin-password "$PASS" \
  --doorplates ${DOORPLATES:-40} --students ${STUDENTS:-1200} --guardians ${GUARDIANS:-80} \
  --rate ${RATE:-300} --duration ${DURATION:-60} --reply-rate 5 \
  --out "$OUT/load-result.json" --chart "$OUT/load-latency.svg"
sleep 4
kill $SCRAPER
python3 "$(dirname "$0")/plot-metrics.py" "$OUT/metrics-scrapes.txt" "$OUT/metrics.png"
echo "scrapes, load result and plot in $OUT"
