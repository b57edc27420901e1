#!/bin/sh
# Builds the Debian package (release) and checks it without touching this machine: the
# files are where the README says (binary, unit, conffile, maintainer scripts that
# create the doorplate user and /var/lib/doorplate); unpacked into a throwaway root,
# `admin create` and the unit's own ExecStart give a server that is ready and signs the
# administrator in; and the packaged unit passes `systemd-analyze verify`. Needs cargo-deb (`cargo install cargo-deb --locked`).
# Usage: scripts/package-test.sh [--no-build]   (prints the .deb's path last)
set -eu
cd "$(dirname "$0")/.."
CARGO="${CARGO:-cargo}"
target="${CARGO_TARGET_DIR:-target}"

if [ "${1:-}" != "--no-build" ]; then
    # Stripped: the release profile keeps line tables, a hundred MB the package need not carry.
    $CARGO deb -p doorplate --strip
fi
deb=$(ls -t "$target"/debian/doorplate_*.deb | head -n 1)
echo "package: $deb"

fail() { echo "FAIL: $*" >&2; exit 1; }

contents=$(dpkg-deb -c "$deb")
for f in ./usr/bin/doorplate ./lib/systemd/system/doorplate.service \
         ./etc/doorplate/doorplate.conf ./usr/share/doc/doorplate/README.md; do
    echo "$contents" | grep -q " $f\$" || fail "$f is not in the package"
done
echo "$contents" | grep -Eq -- '^-rwxr-xr-x (root/root|0/0) .* \./usr/bin/doorplate$' \
    || fail "/usr/bin/doorplate is not an executable owned by root"

info=$(dpkg-deb -I "$deb")
echo "$info" | grep -q '^ Package: doorplate$' || fail "the package is not named doorplate"
echo "$info" | grep -q '^ Depends: .*adduser' || fail "it does not depend on adduser"
for s in postinst prerm postrm conffiles; do
    echo "$info" | grep -Eq "[0-9]+ lines +(\\* +)?$s( |\$)" || fail "no $s in the control archive"
done
size=$(echo "$contents" | awk '$NF == "./usr/bin/doorplate" { print $3 }')
[ "$size" -lt 60000000 ] || fail "/usr/bin/doorplate is $size bytes: not stripped?"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
dpkg-deb -R "$deb" "$work/root"
grep -qx /etc/doorplate/doorplate.conf "$work/root/DEBIAN/conffiles" \
    || fail "/etc/doorplate/doorplate.conf is not a conffile"
grep -q 'adduser --system' "$work/root/DEBIAN/postinst" || fail "postinst does not create the user"
grep -q 'install -d -m 0700 -o doorplate -g doorplate /var/lib/doorplate' "$work/root/DEBIAN/postinst" \
    || fail "postinst does not create /var/lib/doorplate (0700, doorplate's)"
sh -n "$work/root/DEBIAN/postinst" && sh -n "$work/root/DEBIAN/prerm" && sh -n "$work/root/DEBIAN/postrm" \
    || fail "a maintainer script does not parse"

# Installed as on a fresh machine, in a throwaway root so nothing of this machine
# changes: the package's files unpacked (`dpkg -x`) under $root, the data folder the
# postinst makes (0700; the doorplate user is this one here), then what the README
# tells an operator — `admin create` with the packaged binary — and the unit's own
# command line (ExecStart, its paths moved under $root: the packaged configuration) as
# systemd would start it, only on a free port. A running server is one that is ready,
# signs the new administrator in and serves the console.
"$work/root/usr/bin/doorplate" --version
root="$work/installed"
dpkg -x "$deb" "$root"
install -d -m 0700 "$root/var/lib/doorplate"
under_root() { sed -e "s#/usr/bin/doorplate#$root/usr/bin/doorplate#g" \
    -e "s#/var/lib/doorplate#$root/var/lib/doorplate#g" -e "s#/etc/doorplate#$root/etc/doorplate#g"; }
password="pkg-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
printf '%s\n' "$password" | "$root/usr/bin/doorplate" --data "$root/var/lib/doorplate" \
    admin create --username admin --password-stdin >"$work/admin" 2>&1 \
    || { cat "$work/admin" >&2; fail "admin create with the packaged binary"; }
exec_start=$(sed -n 's/^ExecStart=//p' "$root/lib/systemd/system/doorplate.service" | under_root)
[ -n "$exec_start" ] || fail "the unit has no ExecStart"
# The packaged configuration listens on 127.0.0.1:8080; a free port here (the variable
# wins over the file, as an override of the unit's Environment= would).
DOORPLATE_LISTEN=127.0.0.1:0 RUST_LOG=warn $exec_start >"$work/out" 2>"$work/err" &
pid=$!
for _ in $(seq 100); do grep -q 'listening on' "$work/out" && break; sleep 0.1; done
url=$(sed -n 's#^doorplate listening on \(http://[0-9.:]*\)$#\1#p' "$work/out")
[ -n "$url" ] || { cat "$work/err" >&2; kill $pid 2>/dev/null; fail "the installed server does not start"; }
check() { "$@" || { cat "$work/err" >&2; kill $pid 2>/dev/null; fail "the installed server: $*"; }; }
ready=""
for _ in $(seq 50); do
    ready=$(curl -s -o /dev/null -w '%{http_code}' "$url/readyz") && [ "$ready" = 200 ] && break
    sleep 0.1
done
check test "$ready" = 200
login=$(curl -sf -H 'content-type: application/json' \
    -d "{\"username\":\"admin\",\"password\":\"$password\",\"cookie\":false}" "$url/api/v1/auth/login") || login=""
token=$(printf '%s' "$login" | sed -n 's/.*"token":"\([^"]*\)".*/\1/p')
check test -n "$token"
me=$(curl -sf -H "authorization: Bearer $token" "$url/api/v1/me") || me=""
has() { printf '%s' "$1" | grep -qi -- "$2"; }
check has "$me" '"role":"admin"'
console=$(curl -sf "$url/admin") || console=""
check has "$console" '<!doctype html'
check has "$(curl -s -o /dev/null -w '%{content_type}' "$url/admin")" 'text/html'
check test -f "$root/var/lib/doorplate/doorplate.db"
check test "$(stat -c %a "$root/var/lib/doorplate/secret.key")" = 600
kill -TERM $pid
wait $pid || fail "the installed server did not exit cleanly on SIGTERM"
echo "installed under a throwaway root: admin create, the unit's ExecStart, ready, signed in: ok"

# The unit, as packaged, with the packaged binary at its path.
if command -v systemd-analyze >/dev/null; then
    sed "s#/usr/bin/doorplate#$work/root/usr/bin/doorplate#" \
        "$work/root/lib/systemd/system/doorplate.service" > "$work/doorplate.service"
    out=$(systemd-analyze verify --man=no "$work/doorplate.service" 2>&1) || { echo "$out" >&2; fail "systemd-analyze verify"; }
    [ -z "$out" ] || { echo "$out" >&2; fail "systemd-analyze verify warns"; }
    echo "systemd-analyze verify: ok"
else
    echo "SKIPPED: systemd-analyze is not installed" >&2
fi
echo "package ok: $deb"
