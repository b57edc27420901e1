#!/usr/bin/env bash
# The throwaway PostgreSQL cluster the tests start (crates/pgtest): `stop` stops it,
# `status` says whether it runs, `dir` prints its folder. The cluster lives in
# ${TMPDIR:-/tmp}/doorplate-pgtest-<uid>; run as root, it belongs to the postgres user.
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
  [ -n "$newest" ] && [ -x "$newest/pg_ctl" ] || { echo "no pg_ctl found" >&2; return 1; }
  echo "$newest/pg_ctl"
}

run() {
  if [ "$(id -u)" -eq 0 ]; then
    (cd "$dir" && runuser -u postgres -- "$@")
  else
    "$@"
  fi
}

case "${1:-}" in
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
  *)
    echo "usage: $0 stop|status|dir" >&2
    exit 2
    ;;
esac
