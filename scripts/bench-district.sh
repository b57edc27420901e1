#!/usr/bin/env bash
# Three servers of a district on one PostgreSQL, driven by the school simulator with
# forwarding or directly (docs/BENCHMARK.md, "Several servers").
#
#   scripts/bench-district.sh MODE RATE DURATION [SIMULATOR FLAGS…]
#
# MODE is `forwarded` (each doorplate's and guardian's requests and socket go to the
# three servers in turn, so two thirds of them reach a server that forwards them to the
# school's host) or `direct` (every client talks to the school's host). Each run makes a
# fresh district: the schools main, north and load in a namespace of their own
# (bd<f|d><pid>_), three servers (d0, d1, d2: one school each once they
# settle), the simulator's school set up in `load`; at the end the servers stop
# (SIGTERM) and the namespace's schemas are dropped. The simulator's JSON result and
# chart go to $OUT (default /tmp/bench-district).
#
# Environment: DOORPLATE_DATABASE (default postgres://postgres@127.0.0.1:5432/test),
# BIN and LOAD (default target/release/doorplate and doorplate-load), SERVER_CPUS
# (default 0: the three servers) and CLIENT_CPUS (default 1: the simulator), PORT (first
# of three, default 18560). PostgreSQL is not pinned here: pin its processes to the
# servers' core yourself (taskset -a -p -c 0 <postmaster pid>) for the published figures.
# Run it while nothing else (a build) competes for the cores.
set -euo pipefail
MODE=$1 RATE=$2 DURATION=$3
shift 3
DB=${DOORPLATE_DATABASE:-postgres://postgres@127.0.0.1:5432/test}
BIN=${BIN:-target/release/doorplate} LOAD=${LOAD:-target/release/doorplate-load}
SERVER_CPUS=${SERVER_CPUS:-0} CLIENT_CPUS=${CLIENT_CPUS:-1} PORT=${PORT:-18560}
OUT=${OUT:-/tmp/bench-district}
PW=load-admin-pass
NS="bd${MODE:0:1}$$_"
WORK=$(mktemp -d /tmp/bench-district.XXXXXX)
mkdir -p "$OUT"
export DOORPLATE_DATABASE=$DB DOORPLATE_DATABASE_NAMESPACE=$NS DOORPLATE_KEY_FILE=$WORK/district.key

PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  psql "$DB" -Atq -v ON_ERROR_STOP=1 -c "SET client_min_messages = warning" -c "DO \$\$ DECLARE s text; BEGIN
      FOR s IN SELECT nspname FROM pg_namespace WHERE starts_with(nspname, '$NS') LOOP
        EXECUTE format('DROP SCHEMA %I CASCADE', s);
      END LOOP; END \$\$;" || true
  rm -rf "$WORK"
}
trap cleanup EXIT

for slug in north load; do
  "$BIN" --data "$WORK/setup" school create --slug $slug --name "School $slug" >/dev/null
done
for slug in main load; do
  echo "$PW" | "$BIN" --data "$WORK/setup" admin create --school $slug --username admin \
    --password-stdin >/dev/null
done
for i in 0 1 2; do
  mkdir -p "$WORK/d$i"
  taskset -c "$SERVER_CPUS" "$BIN" --data "$WORK/d$i" serve --listen 127.0.0.1:$((PORT + i)) \
    --name d$i --max-connections-per-ip 0 >"$WORK/d$i.out" 2>"$WORK/d$i.log" &
  PIDS+=($!)
done
# Settled: every server serves every school (forwarding where it does not host it), and
# the three schools have three different hosts.
deadline=$((SECONDS + 60))
while :; do
  hosts=()
  ok=1
  for slug in main north load; do
    for i in 0 1 2; do
      out=$(curl -s -o /dev/null -D - -w 'code=%{http_code}\n' \
        "http://127.0.0.1:$((PORT + i))/s/$slug/api/v1/school" | tr -d '\r' || true)
      code=$(sed -n 's/^code=//p' <<<"$out")
      by=$(awk 'tolower($1)=="doorplate-served-by:" {print $2}' <<<"$out")
      [ "$code" = 200 ] && [ -n "$by" ] || ok=0
    done
    hosts+=("$by")
  done
  if [ $ok = 1 ] && [ "$(printf '%s\n' "${hosts[@]}" | sort -u | wc -l)" = 3 ]; then break; fi
  [ $SECONDS -lt $deadline ] || { echo "the district did not settle" >&2; tail "$WORK"/d*.log >&2; exit 1; }
  sleep 0.5
done
host=${hosts[2]}
echo "== $MODE, $RATE msg/s for $DURATION s; the school is hosted by $host" >&2
case $MODE in
  forwarded) URLS="http://127.0.0.1:$PORT/s/load,http://127.0.0.1:$((PORT + 1))/s/load,http://127.0.0.1:$((PORT + 2))/s/load" ;;
  direct) URLS="http://127.0.0.1:$((PORT + ${host#d}))/s/load" ;;
  *) echo "MODE is forwarded or direct" >&2; exit 2 ;;
esac
cpu() { # utime + stime of the three servers, in clock ticks
  for p in "${PIDS[@]}"; do awk '{print $14 + $15}' "/proc/$p/stat"; done | paste -sd+ | bc
}
before=$(cpu)
# --pid: the simulator's "server CPU" is the three servers' together, over the messaging
# phase only.
DOORPLATE_LOAD_ADMIN_PASSWORD=$PW "$LOAD" --client-cpus "$CLIENT_CPUS" --url "$URLS" \
  --pid "$(IFS=,; echo "${PIDS[*]}")" \
  --rate "$RATE" --duration "$DURATION" \
  --out "$OUT/result-$MODE-$RATE.json" --chart "$OUT/latency-$MODE-$RATE.svg" "$@"
after=$(cpu)
echo "== the three servers' CPU over the whole run (setup included): $(awk -v t=$((after - before)) \
  -v hz="$(getconf CLK_TCK)" 'BEGIN {printf "%.2f", t / hz}') s" >&2
