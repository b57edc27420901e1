#!/usr/bin/env bash
# Runs every test of Doorplate on a fresh machine: installs what the tests need
# (Debian's chromium, CJK fonts and coturn for the browser tests, PostgreSQL's initdb
# and pg_ctl for the throwaway cluster the PostgreSQL tests start, the e2e npm packages),
# then the Rust unit and integration tests, then the browser tests.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
dpkg -s fonts-noto-cjk >/dev/null 2>&1 || need_apt+=(fonts-noto-cjk)
# The service unit is checked with systemd-analyze (tests/systemd.rs).
command -v systemd-analyze >/dev/null 2>&1 || need_apt+=(systemd)
# The package test installs the package on a throwaway minimal Debian root that
# mmdebstrap makes (once, then cached) and signs in to the installed server over HTTP.
command -v mmdebstrap >/dev/null 2>&1 || need_apt+=(mmdebstrap)
command -v curl >/dev/null 2>&1 || need_apt+=(curl)
# The calls browser test starts a throwaway TURN relay on loopback.
command -v turnserver >/dev/null 2>&1 || need_apt+=(coturn)
# The PostgreSQL tests start their own cluster (crates/pgtest) with initdb and pg_ctl,
# found on PATH or in /usr/lib/postgresql/*/bin (set DOORPLATE_TEST_DATABASE to use an
# existing database instead).
if [ -z "${DOORPLATE_TEST_DATABASE:-}" ] && ! command -v initdb >/dev/null 2>&1 \
   && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  need_apt+=(postgresql)
fi
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "== installing ${need_apt[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi
if [ ! -d e2e/node_modules/playwright-core ]; then
  echo "== installing the browser-test packages"
  (cd e2e && npm ci --no-audit --no-fund --silent)
fi
if ! cargo nextest --version >/dev/null 2>&1; then
  echo "== installing cargo-nextest"
  cargo install --locked cargo-nextest
fi
if ! cargo deb --version >/dev/null 2>&1; then
  echo "== installing cargo-deb (the Debian package test)"
  # 3.x packages a dev-profile build (with a warning); see scripts/package-test.sh --dev.
  cargo install --locked cargo-deb --version '^3'
fi

# The throwaway PostgreSQL the tests start stays up for the whole run (every test
# process shares it); stop it at the end, whatever happened.
trap 'scripts/pg-throwaway.sh stop || true' EXIT

echo "== formatting and lints"
cargo fmt --all --check
cargo clippy --workspace --all-targets --quiet -- -D warnings

echo "== Rust tests (unit, integration, crash)"
cargo nextest run --workspace --no-fail-fast

echo "== the same integration tests on PostgreSQL (a throwaway cluster; crates/pgtest)"
# Every test that drives the server through its API runs again with its schools in
# PostgreSQL, uploads included (tests/uploads.rs: the bytes are pieces in the school's
# schema there). Left out: the tests of the data folder itself (backups, the folder of
# schools, file permissions and the disk — security_storage), the SQLite writer's
# metrics, the graceful restart (restart.rs), and the move of a school between the
# stores — binaries whose PostgreSQL cases (a backup paired with pg_dump, the
# PostgreSQL writer's metrics, a school moved in) set up their PostgreSQL deployment
# themselves and so already ran in the pass above (the district of several servers too).
# --workspace with `package(doorplate)`, not `-p doorplate`: the same features as the pass
# above (the server's dev-dependencies turn on tokio's test-util), so nothing is built
# again — `-p doorplate` rebuilt tokio and all that uses it, minutes on a slow machine.
DOORPLATE_TEST_STORE=postgres cargo nextest run --workspace --no-fail-fast \
  -E 'package(doorplate) & not (binary(backup) | binary(schools) | binary(security_storage) | binary(metrics) | binary(restart) | binary(school_move) | binary(district))'

echo "== browser tests (headless Chromium against the real server)"
# The server binary the integration tests above ran (their build made it; the dev
# dependencies' features embed the web faces in it, as in a release build). A separate
# `cargo build -p doorplate` would build the server again with other features.
bin="${CARGO_TARGET_DIR:-$PWD/target}/debug/doorplate"
# The browser tests skip themselves without a server binary: that must not pass quietly.
[ -x "$bin" ] || { echo "no server binary at $bin" >&2; exit 1; }
DOORPLATE_BIN="$bin" node --test --test-concurrency=1 e2e/

echo "== the Debian package (a debug build), installed, upgraded, removed and purged on a throwaway Debian root"
# --dev --no-build: the package around that same debug binary, not a release build of
# the whole server (6 min cold here idle, 33 min under load); the files, scripts and unit it
# installs are the same.
scripts/package-test.sh --dev --no-build
