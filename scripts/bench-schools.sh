#!/usr/bin/env bash
# Many schools in one process (docs/BENCHMARK.md).
#
#   scripts/bench-schools.sh make BIN DATA_DIR [SCHOOLS] [STUDENTS]
#   scripts/bench-schools.sh measure BIN DATA_DIR
#
# `make` makes N schools (default 50) of M students each (default 1,000: rooms, students
# with cards, classes of 50) through the CLI and the CSV import API; DATA_DIR must not
# exist. `measure` starts the server three times and prints, for each start, the seconds
# from the spawn to the first 200 of /readyz (every school is hosted before the server
# answers) and the server's resident memory ten seconds later, at rest. With
# DOORPLATE_DATABASE (and DOORPLATE_DATABASE_NAMESPACE) set, the schools live in
# PostgreSQL, and `measure` also prints the connections the server holds
# (pg_stat_activity, application_name 'doorplate'). SERVER_CPUS (default 0) pins the
# server; run `measure` when nothing else (a build) competes for the cores.
set -euo pipefail
MODE=$1 BIN=$2 DIR=$3 N=${4:-50} M=${5:-1000}
PORT=${PORT:-18471} CPUS=${SERVER_CPUS:-0}
PW=bench-schools-password
URL=http://127.0.0.1:$PORT

serve() {
  taskset -c "$CPUS" "$BIN" --data "$DIR" serve --listen 127.0.0.1:$PORT \
    --max-connections-per-ip 0 >>"$DIR/serve.log" 2>&1 &
  PID=$!
}
wait_ready() {
  until [ "$(curl -s -o /dev/null -w '%{http_code}' $URL/readyz || true)" = 200 ]; do sleep 0.02; done
}
stop() { kill -TERM "$PID"; wait "$PID" || true; }

if [ "$MODE" = make ]; then
[ -e "$DIR" ] && { echo "$DIR exists" >&2; exit 1; }
mkdir -p "$DIR"
echo "== making $N schools of $M students"
for i in $(seq 1 "$N"); do
  slug=$(printf 's%03d' "$i")
  "$BIN" --data "$DIR" school create --slug "$slug" --name "School $i" --timezone Asia/Shanghai >/dev/null
  echo "$PW" | "$BIN" --data "$DIR" admin create --school "$slug" --username admin --password-stdin >/dev/null
done
serve
wait_ready
classes=$(( (M + 49) / 50 ))
for i in $(seq 1 "$N"); do
  slug=$(printf 's%03d' "$i")
  api=$URL/s/$slug/api/v1
  token=$(curl -sf "$api/auth/login" -H 'content-type: application/json' \
    -d "{\"username\":\"admin\",\"password\":\"$PW\",\"cookie\":false}" | jq -r .token)
  rooms="name,kind"$'\n'; users="role,display_name,username,password,card_uid"$'\n'
  groups="name,teacher_username,member_usernames"$'\n'
  for c in $(seq 1 "$classes"); do
    rooms+="Room $c,classroom"$'\n'
    members=""
    for s in $(seq $(( (c - 1) * 50 + 1 )) $(( c * 50 < M ? c * 50 : M ))); do
      users+="student,Student $s,st$s,,$(printf '%02X%06X' "$i" "$s")"$'\n'
      members+="st$s "
    done
    groups+="Class $c,,${members% }"$'\n'
  done
  for kind in rooms users groups; do
    curl -sf "$api/import/$kind?dry_run=false" -H "authorization: Bearer $token" \
      -H 'content-type: text/csv' --data-binary "${!kind}" \
      | jq -e '.errors == []' >/dev/null || { echo "import of $kind into $slug failed" >&2; exit 1; }
  done
done
stop
echo "== $N schools of $M students made"
exit 0
fi

for run in 1 2 3; do
  start=$(date +%s.%N)
  serve
  wait_ready
  ready=$(date +%s.%N)
  sleep 10
  rss=$(awk '/VmRSS/ {print $2}' /proc/$PID/status)
  conns=""
  if [ -n "${DOORPLATE_DATABASE:-}" ]; then
    conns=", $(psql "$DOORPLATE_DATABASE" -Atc "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'doorplate'") database connections"
  fi
  printf 'start %d: ready after %.2f s, %d MiB resident at rest%s\n' "$run" \
    "$(echo "$ready - $start" | bc)" $((rss / 1024)) "$conns"
  stop
done
