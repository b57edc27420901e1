#!/bin/sh
# Builds the Debian package (release) and checks it without installing it: the files
# are where the README says (binary, unit, conffile, maintainer scripts that create the
# doorplate user and /var/lib/doorplate), and the packaged unit passes
# `systemd-analyze verify`. Needs cargo-deb (`cargo install cargo-deb --locked`).
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

# The packaged binary runs and the packaged configuration is one it accepts.
"$work/root/usr/bin/doorplate" --version
data="$work/data"
"$work/root/usr/bin/doorplate" --data "$data" serve --listen 127.0.0.1:0 \
    --config "$work/root/etc/doorplate/doorplate.conf" >"$work/out" 2>"$work/err" &
pid=$!
for _ in $(seq 50); do grep -q 'listening on' "$work/out" && break; sleep 0.1; done
grep -q 'listening on' "$work/out" || { cat "$work/err" >&2; kill $pid 2>/dev/null; fail "the packaged configuration does not start"; }
sleep 0.5
kill -TERM $pid
wait $pid || fail "the server did not exit cleanly"

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
