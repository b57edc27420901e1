#!/usr/bin/env bash
# The throwaway PostgreSQL cluster the tests start (crates/pgtest does the same for the
# Rust tests; this script for the browser tests and for people): `start` starts it, or
# finds it running, and prints its URL; `stop` stops it; `status` says whether it runs;
# `dir` prints its folder; `drop-namespace URL PREFIX` drops every schema whose name
# starts with PREFIX (a test district's) from the database at URL; `sql URL STATEMENT`
# runs one statement there with psql (a browser test's fault). The cluster lives in
# ${TMPDIR:-/tmp}/doorplate-pgtest-<uid>; run as root, it belongs to the postgres user.
# `start` takes the same lock as crates/pgtest, so the two never start two clusters.
set -euo pipefail

dir="${TMPDIR:-/tmp}"
dir="${dir%/}/doorplate-pgtest-$(id -u)"
data="$dir/data"

pg_ctl_bin() {
  if command -v pg_ctl >/dev/null 2>&1 && command -v initdb >/dev/null 2>&1; then
    command -v pg_ctl
    return
  fi
  local newest
  newest=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  [ -n "$newest" ] && [ -x "$newest/pg_ctl" ] || {
    echo "no pg_ctl found: install PostgreSQL (apt-get install postgresql) or set DOORPLATE_TEST_DATABASE" >&2
    return 1
  }
  echo "$newest/pg_ctl"
}

psql_bin() {
  if command -v psql >/dev/null 2>&1; then command -v psql; return; fi
  local newest
  newest=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  [ -n "$newest" ] && [ -x "$newest/psql" ] || { echo "no psql found" >&2; return 1; }
  echo "$newest/psql"
}

# Runs a PostgreSQL program in the cluster's folder, as postgres when we are root. The
# lock's descriptor (9) is closed for it: a server that inherited it would hold the lock
# for as long as it runs.
run() {
  if [ "$(id -u)" -eq 0 ]; then
    (cd "$dir" && exec 9>&- && runuser -u postgres -- env -u PGDATA LC_ALL=C HOME="$dir" USER=postgres "$@")
  else
    (cd "$dir" && exec 9>&- && env -u PGDATA LC_ALL=C "$@")
  fi
}

url_of() {
  echo "postgresql://postgres@127.0.0.1:$1/postgres"
}

# The port of our cluster when it runs and answers (as crates/pgtest's running_port).
running_port() {
  [ -f "$data/postmaster.pid" ] && [ -f "$dir/port" ] || return 1
  local pid port
  pid=$(head -n 1 "$data/postmaster.pid" | tr -d ' ')
  port=$(tr -d ' \n' < "$dir/port")
  [ -n "$pid" ] && [ -d "/proc/$pid" ] || return 1
  timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$port" 2>/dev/null || return 1
  echo "$port"
}

# A port on 127.0.0.1 that nothing listens on now (pg_ctl's start fails if one takes it
# meanwhile, and start tries again with another).
free_port() {
  local p
  for _ in $(seq 1 50); do
    p=$((20000 + RANDOM % 40000))
    if ! timeout 1 bash -c "exec 3<>/dev/tcp/127.0.0.1/$p" 2>/dev/null; then
      echo "$p"
      return
    fi
  done
  echo "no free port found" >&2
  return 1
}

start() {
  local pg_ctl bin
  pg_ctl=$(pg_ctl_bin)
  bin=$(dirname "$pg_ctl")
  mkdir -p "$dir"
  if [ "$(id -u)" -eq 0 ]; then
    id postgres >/dev/null 2>&1 || {
      echo "running as root, and there is no postgres user to run PostgreSQL as (apt-get install postgresql makes one)" >&2
      exit 1
    }
    chown postgres:postgres "$dir"
  fi
  chmod 700 "$dir"
  # One process at a time from here (crates/pgtest takes the same flock).
  exec 9>>"$dir/lock"
  flock 9

  local port
  if port=$(running_port); then
    url_of "$port"
    return
  fi
  if [ -f "$data/postmaster.pid" ]; then
    # Left by a server that died or does not answer: stop what may be left.
    run "$pg_ctl" -D "$data" stop -m immediate -w -t 10 >/dev/null 2>&1 || true
  fi
  local last="" attempt
  for attempt in 0 1 2; do
    if [ ! -f "$data/PG_VERSION" ] || { [ "$attempt" -gt 0 ] && [[ "$last" == *incompatible* ]]; }; then
      rm -rf "$data"
      run "$bin/initdb" -D "$data" -U postgres -A trust -E UTF8 --locale=C --no-sync >/dev/null
    fi
    port=$(free_port)
    if last=$(run "$pg_ctl" -D "$data" start -w -t 60 -l "$dir/log" \
        -o "-p $port -c listen_addresses=127.0.0.1 -c unix_socket_directories='$dir' -c fsync=on -c synchronous_commit=on -c max_connections=200" 2>&1); then
      echo "$port" > "$dir/port"
      url_of "$port"
      return
    fi
    last="$last $(tail -n 15 "$dir/log" 2>/dev/null || true)"
  done
  echo "cannot start a throwaway PostgreSQL: $last" >&2
  exit 1
}

case "${1:-}" in
  start)
    start
    ;;
  stop)
    if [ -f "$data/postmaster.pid" ]; then
      run "$(pg_ctl_bin)" -D "$data" stop -m fast -w >/dev/null
      echo "stopped the throwaway PostgreSQL in $dir"
    fi
    ;;
  status)
    if [ -f "$data/postmaster.pid" ]; then run "$(pg_ctl_bin)" -D "$data" status; else echo "not running"; exit 3; fi
    ;;
  dir)
    echo "$dir"
    ;;
  drop-namespace)
    url="${2:?usage: $0 drop-namespace URL PREFIX}"
    prefix="${3:?usage: $0 drop-namespace URL PREFIX}"
    [[ "$prefix" =~ ^[a-z0-9_]+$ ]] || { echo "refusing to drop schemas with prefix $prefix" >&2; exit 2; }
    "$(psql_bin)" "$url" -v ON_ERROR_STOP=1 -q -c "SET lock_timeout = '10s';
      DO \$\$ DECLARE s text; BEGIN
        FOR s IN SELECT nspname FROM pg_namespace WHERE starts_with(nspname, '$prefix') LOOP
          EXECUTE format('DROP SCHEMA %I CASCADE', s);
        END LOOP;
      END \$\$;"
    ;;
  sql)
    url="${2:?usage: $0 sql URL STATEMENT}"
    "$(psql_bin)" "$url" -v ON_ERROR_STOP=1 -q -A -t -c "${3:?usage: $0 sql URL STATEMENT}"
    ;;
  *)
    echo "usage: $0 start|stop|status|dir|drop-namespace URL PREFIX|sql URL STATEMENT" >&2
    exit 2
    ;;
esac
