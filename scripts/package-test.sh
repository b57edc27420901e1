#!/bin/sh
# Builds the Debian package (release, or `--dev`: see below) and installs it for real, as
# an operator does on a fresh Debian 12 machine, without changing the machine the test
# runs on:
#  - the package's files and control data (dpkg-deb -c, -I);
#  - a throwaway Debian machine: a minimal Debian root (`mmdebstrap --variant=minbase`
#    plus the package's dependencies — adduser, systemd, procps — and sudo), made once
#    from Debian's mirrors and cached, then used under an overlay mount so every run
#    starts from the same fresh root and nothing is written to the cache; commands run in
#    it with chroot;
#  - there, the README's steps: `apt install ./doorplate_*.deb` (so its postinst runs:
#    the doorplate system user and group, /var/lib/doorplate, the configuration's
#    owner and mode, checked as getent and stat show them), `sudo -u doorplate doorplate
#    ... admin create`, `systemctl enable doorplate`; `systemd-analyze verify` of the
#    installed unit;
#  - the server started as the installed unit says. systemd itself cannot run here: it
#    needs to be PID 1, and it is not in a chroot, nor on CI (a machine without systemd as
#    PID 1), so `systemctl start` (the README's `--now`) is the one step done by hand: the
#    unit's ExecStart, User, Group, UMask and Environment are read from the installed unit
#    and the process is started with exactly those. It must be ready and sign the
#    administrator in over HTTP;
#  - `dpkg -i` again (a reinstall) and an upgrade (the same package with a higher
#    version) keep the user, the data and an edited configuration, and the administrator
#    still signs in; `dpkg -r` keeps the configuration and the data and leaves the unit
#    disabled; `dpkg --purge` removes the configuration and keeps the data folder and
#    the user (as postrm says), which a new install takes back.
# Needs root (chroot, mount), cargo-deb (`cargo install cargo-deb --locked`), mmdebstrap
# and curl (scripts/test.sh installs them). The Debian root is kept in
# $DOORPLATE_PACKAGE_CACHE (default ~/.cache/doorplate-package-test; delete it to make a
# new one); making it takes a few minutes and about 250 MB.
# Usage: scripts/package-test.sh [--dev] [--no-build]   (prints the .deb's path last)
#   --dev       package a debug build (target/debug/doorplate, with the web faces
#               embedded as a release build has them) instead of a release build: the
#               same package — files, maintainer scripts, unit, conffile — around the code
#               the other tests ran. scripts/test.sh uses `--dev --no-build` on the
#               binary its integration tests built (their dev-dependency features embed
#               the faces), so that a test run does not compile the server again (a cold
#               release build took 6 min here idle, 33 min under load). cargo-deb warns that
#               it is meant for release profiles; what this test checks is the
#               packaging, not the code.
#   --no-build  package what is already built (a debug build that does not embed the
#               faces fails the console check: it would read them from the source tree)
set -eu
cd "$(dirname "$0")/.."
CARGO="${CARGO:-cargo}"
target="${CARGO_TARGET_DIR:-target}"
started=$(date +%s)

fail() { echo "FAIL: $*" >&2; exit 1; }

profile=release build=yes features=""
for arg in "$@"; do
    case "$arg" in
        # A debug build reads web/ from the source tree unless it embeds it.
        --dev) profile=dev features=embed-web ;;
        --no-build) build=no ;;
        *) fail "unknown argument $arg (usage: $0 [--dev] [--no-build])" ;;
    esac
done
# Stripped: both profiles keep line tables, a hundred MB the package need not carry.
if [ "$build" = yes ]; then
    $CARGO deb -p doorplate --profile "$profile" --strip ${features:+--features "$features"}
else
    $CARGO deb -p doorplate --profile "$profile" --strip --no-build
fi
deb=$(ls -t "$target"/debian/doorplate_*.deb | head -n 1)
echo "package: $deb"
built=$(date +%s)

# --- The package's files -------------------------------------------------------------
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

# What the README tells an operator to run; the steps below run these lines on the
# throwaway machine (apt-get for apt, with the package copied there; `--now`'s start is
# done by hand, as said above).
readme_install='sudo apt install ./target/debian/doorplate_*.deb'
readme_admin='sudo -u doorplate doorplate --data /var/lib/doorplate admin create --username admin --password-stdin'
readme_enable='sudo systemctl enable --now doorplate'
for line in "$readme_install" "$readme_admin" "$readme_enable"; do
    grep -qF -- "$line" README.md || fail "README.md does not show \`$line\` (this test runs it)"
done

# --- A fresh Debian machine ------------------------------------------------------------
[ "$(id -u)" -eq 0 ] || fail "installing the package needs root (chroot, mount): run this as root"
command -v mmdebstrap >/dev/null || fail "mmdebstrap is not installed (apt-get install mmdebstrap)"
command -v curl >/dev/null || fail "curl is not installed"
suite="${DOORPLATE_PACKAGE_SUITE:-bookworm}"
cache="${DOORPLATE_PACKAGE_CACHE:-${XDG_CACHE_HOME:-${HOME:-/root}/.cache}/doorplate-package-test}"
# minbase, the package's own dependencies and sudo (the README's steps) — nothing more,
# so that what the package needs and does not declare is missing there (the root has no
# package lists to fetch anything from). A Depends of a new package makes a new root.
extra=$(dpkg-deb -f "$deb" Depends | tr , '\n' | sed 's/|.*//; s/(.*//; s/[[:space:]]//g' \
    | { grep . || true; echo sudo; } | sort -u | paste -sd, -)
base="$cache/$suite-minbase-$(echo "$extra" | tr , +)"
if [ ! -d "$base" ]; then
    echo "== making a minimal Debian $suite root, once (kept in $base)"
    mkdir -p "$cache"
    t=$(date +%s)
    rm -rf --one-file-system "$base".new.*   # what an interrupted run left
    # Unsafe I/O (no fsync per file) only while making it; the root keeps dpkg's defaults.
    mmdebstrap --quiet --variant=minbase --include="$extra" --dpkgopt=force-unsafe-io \
        "$suite" "$base.new.$$" || { rm -rf --one-file-system "$base.new.$$"; fail "mmdebstrap: no Debian root"; }
    rm -f "$base.new.$$"/etc/dpkg/dpkg.cfg.d/99mmdebstrap
    # Another run may have made it meanwhile: then keep that one.
    mv -T "$base.new.$$" "$base" 2>/dev/null || rm -rf --one-file-system "$base.new.$$"
    echo "made in $(($(date +%s) - t)) s, $(du -sh "$base" | cut -f1)"
fi

work=$(mktemp -d)
root="$work/machine"
pid=""
cleanup() {
    if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
    for m in "$root/dev/pts" "$root/proc"; do
        if mountpoint -q "$m"; then umount "$m" || true; fi
    done
    if mountpoint -q "$root"; then umount "$root" || true; fi
    rm -rf --one-file-system "$work"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
mkdir -p "$root" "$work/upper" "$work/scratch"
if ! mount -t overlay overlay -o "lowerdir=$base,upperdir=$work/upper,workdir=$work/scratch" \
        "$root" 2>/dev/null; then
    echo "(no overlay mount here: copying the Debian root instead)"
    cp -a "$base/." "$root/"
fi
mount -t proc proc "$root/proc"
mount --bind /dev/pts "$root/dev/pts"
printf '127.0.0.1\tlocalhost\n127.0.1.1\t%s\n' "$(uname -n)" >"$root/etc/hosts"

# A root shell's command on that machine.
on() {
    chroot "$root" /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        HOME=/root LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive "$@"
}
# A command's output, or the test fails showing what it said.
run() {
    what=$1; shift
    "$@" >"$work/log" 2>&1 || { cat "$work/log" >&2; fail "$what"; }
}
expect() { [ "$2" = "$3" ] || fail "$1: expected \`$3\`, found \`$2\`"; }
stat_of() { on stat -c '%U:%G %a' "$1" 2>/dev/null || echo "missing"; }
exists() { on test -e "$1"; }
# dpkg's word on the package: "install ok installed 1.0-1", "deinstall ok config-files 1.0-1"…
# shellcheck disable=SC2016 # dpkg-query's own ${fields}.
pkg_state() { on dpkg-query -W -f='${Status} ${Version}' doorplate 2>/dev/null || echo "not known"; }

# --- Installed with apt, as the README says ----------------------------------------------
phase=$(date +%s)
debname=$(basename "$deb")
cp "$deb" "$root/root/$debname"
# apt-get is apt for scripts. Every dependency is on the machine already (and it has no
# package lists to fetch one from).
run "apt install ./$debname" on sh -c "cd /root && apt-get install --yes ./$debname"
status=$(pkg_state)
version=${status##* }
expect "the package's state after apt install" "${status% *}" "install ok installed"

# The system user and group that postinst makes: uid and gid in Debian's system range,
# no home of its own beyond the data folder, no login shell, no password.
users() {
    passwd=$(on getent passwd doorplate) || fail "no doorplate user ($1)"
    group=$(on getent group doorplate) || fail "no doorplate group ($1)"
    uid=$(echo "$passwd" | cut -d: -f3)
    gid=$(echo "$passwd" | cut -d: -f4)
    expect "doorplate's primary group ($1)" "$gid" "$(echo "$group" | cut -d: -f3)"
    if [ "$uid" -lt 100 ] || [ "$uid" -ge 1000 ]; then fail "doorplate's uid $uid is not a system uid ($1)"; fi
    if [ "$gid" -lt 100 ] || [ "$gid" -ge 1000 ]; then fail "doorplate's gid $gid is not a system gid ($1)"; fi
    expect "doorplate's name ($1)" "$(echo "$passwd" | cut -d: -f5 | cut -d, -f1)" "Doorplate server"
    expect "doorplate's home ($1)" "$(echo "$passwd" | cut -d: -f6)" /var/lib/doorplate
    expect "doorplate's shell ($1)" "$(echo "$passwd" | cut -d: -f7)" /usr/sbin/nologin
    case $(on getent shadow doorplate | cut -d: -f2) in
        '!'* | '*'*) ;;
        *) fail "doorplate has a password to log in with ($1)" ;;
    esac
}
users "after install"
first_uid=$uid
expect "/var/lib/doorplate after install" "$(stat_of /var/lib/doorplate)" "doorplate:doorplate 700"
expect "what /var/lib/doorplate holds after install" "$(on ls -A /var/lib/doorplate)" ""
expect "/etc/doorplate/doorplate.conf after install" "$(stat_of /etc/doorplate/doorplate.conf)" "root:doorplate 640"
# shellcheck disable=SC2016 # dpkg-query's own ${fields}.
on dpkg-query -W -f='${Conffiles}\n' doorplate | grep -q '^ /etc/doorplate/doorplate.conf ' \
    || fail "/etc/doorplate/doorplate.conf is not a conffile"
expect "/usr/bin/doorplate" "$(stat_of /usr/bin/doorplate)" "root:root 755"
expect "the unit" "$(stat_of /lib/systemd/system/doorplate.service)" "root:root 644"
exists /usr/share/doc/doorplate/README.md || fail "no /usr/share/doc/doorplate/README.md"
expect "the command on PATH" "$(on sh -c 'command -v doorplate')" /usr/bin/doorplate
on doorplate --version
# Installing starts nothing and enables nothing.
expect "the unit after install" "$(on systemctl is-enabled doorplate.service 2>&1 || true)" disabled
run "systemd-analyze verify of the installed unit" \
    on systemd-analyze verify --man=no /lib/systemd/system/doorplate.service
[ ! -s "$work/log" ] || { cat "$work/log" >&2; fail "systemd-analyze verify warns"; }
echo "installed with apt: the doorplate user (uid $uid), /var/lib/doorplate, the configuration, the unit (verified): ok ($(($(date +%s) - phase)) s)"

# --- The first administrator and the service --------------------------------------------
phase=$(date +%s)
password="pkg-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
printf '%s\n' "$password" | on sh -c "$readme_admin" >"$work/log" 2>&1 \
    || { cat "$work/log" >&2; fail "$readme_admin"; }
exists /var/lib/doorplate/doorplate.db || fail "admin create made no database"
expect "the key after admin create" "$(stat_of /var/lib/doorplate/secret.key)" "doorplate:doorplate 600"
expect "files of the data folder not doorplate's" "$(on find /var/lib/doorplate ! -user doorplate)" ""
# The README's `systemctl enable --now`: enabling works without a running systemd; the
# start (`--now`) is what systemd, as PID 1, does, and below is done as it would.
run "systemctl enable doorplate" on systemctl enable doorplate
expect "the unit after systemctl enable" "$(on systemctl is-enabled doorplate.service)" enabled

# An operator's edit of the configuration (a port of its own here: whatever is free),
# which a reinstall and an upgrade must keep.
conf="$root/etc/doorplate/doorplate.conf"
edited=$(sed 's/^listen = .*/listen = "127.0.0.1:0"/' "$conf")
printf '%s\n' "$edited" >"$conf"
grep -qx 'listen = "127.0.0.1:0"' "$conf" || fail "the configuration has no listen line to edit"

# The service as the installed unit starts it: its ExecStart as its User and Group, with
# its UMask and Environment (and what systemd sets for a service with User=). A drop-in
# or a setting that changes how the process starts and is not read here fails the test
# instead of being ignored.
start_as_the_unit() {
    unit=/lib/systemd/system/doorplate.service
    for d in /etc/systemd/system/doorplate.service /etc/systemd/system/doorplate.service.d \
             /lib/systemd/system/doorplate.service.d /run/systemd/system/doorplate.service.d; do
        ! exists "$d" || fail "$d overrides the unit: not read by this test"
    done
    service=$(on cat "$unit" | awk '/^\[/ { s = ($0 == "[Service]") } s && /^[A-Za-z]/')
    setting() { printf '%s\n' "$service" | sed -n "s/^$1=//p" | tail -n 1; }
    unread=$(printf '%s\n' "$service" | grep -E '^(EnvironmentFile|WorkingDirectory|RootDirectory|RootImage|ExecStartPre|ExecCondition|PassEnvironment|UnsetEnvironment|DynamicUser|SupplementaryGroups|PAMName)=' || true)
    [ -z "$unread" ] || fail "the unit sets what this test does not apply when it starts the server: $unread"
    exec_start=$(setting ExecStart)
    [ -n "$exec_start" ] || fail "the unit has no ExecStart"
    unit_user=$(setting User)
    unit_group=$(setting Group)
    unit_umask=$(setting UMask)
    unit_env=$(printf '%s\n' "$service" | sed -n 's/^Environment=//p' | tr '\n' ' ')
    case "$exec_start$unit_env" in
        *[\"\'\\\$%]*) fail "quoting, \$ or % in ExecStart or Environment: not parsed here" ;;
    esac
    case "$exec_start" in [-@+!:]*) fail "ExecStart has a prefix not read here: $exec_start" ;; esac
    expect "the unit's User" "$unit_user" doorplate
    as_uid=$(on id -u "$unit_user")
    as_gid=$(on getent group "${unit_group:-$unit_user}" | cut -d: -f3)
    # shellcheck disable=SC2086 # Environment= assignments are split as systemd splits them.
    chroot --userspec="$as_uid:$as_gid" --groups="$as_gid" "$root" /usr/bin/env -i \
        PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin HOME=/var/lib/doorplate \
        USER="$unit_user" LOGNAME="$unit_user" SHELL=/usr/sbin/nologin $unit_env \
        /bin/sh -c "umask ${unit_umask:-0022} && exec $exec_start" >"$work/out" 2>"$work/err" &
    pid=$!
}

# Ready, the administrator signs in and is one, the console is served; SIGTERM ends it
# with 0.
serve_and_sign_in() {
    label=$1
    start_as_the_unit
    url=""
    for _ in $(seq 100); do
        url=$(sed -n 's#^doorplate listening on \(http://[0-9.:]*\)$#\1#p' "$work/out")
        [ -n "$url" ] && break
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    [ -n "$url" ] || { cat "$work/err" >&2; fail "the installed server does not start ($label)"; }
    check() { "$@" || { cat "$work/err" >&2; fail "the installed server ($label): $*"; }; }
    ready=""
    for _ in $(seq 50); do
        ready=$(curl -s -o /dev/null -w '%{http_code}' "$url/readyz") && [ "$ready" = 200 ] && break
        sleep 0.1
    done
    check test "$ready" = 200
    login=$(curl -sf -H 'content-type: application/json' \
        -d "{\"username\":\"admin\",\"password\":\"$password\",\"cookie\":false}" \
        "$url/api/v1/auth/login") || login=""
    token=$(printf '%s' "$login" | sed -n 's/.*"token":"\([^"]*\)".*/\1/p')
    check test -n "$token"
    me=$(curl -sf -H "authorization: Bearer $token" "$url/api/v1/me") || me=""
    has() { printf '%s' "$1" | grep -qi -- "$2"; }
    check has "$me" '"role":"admin"'
    console=$(curl -sf "$url/admin") || console=""
    check has "$console" '<!doctype html'
    check has "$(curl -s -o /dev/null -w '%{content_type}' "$url/admin")" 'text/html'
    kill -TERM "$pid"
    code=0
    wait "$pid" || code=$?
    pid=""
    [ "$code" -eq 0 ] || { cat "$work/err" >&2; fail "the installed server exited with $code on SIGTERM ($label)"; }
    expect "files of the data folder not doorplate's ($label)" "$(on find /var/lib/doorplate ! -user doorplate)" ""
    echo "started as the unit says ($exec_start, as $unit_user, UMask=${unit_umask:-none}) on $url: ready, the administrator signed in, the console served ($label)"
}
serve_and_sign_in "after install"
echo "admin create, systemctl enable, the service, signed in: ok ($(($(date +%s) - phase)) s)"

# --- Reinstalled, then upgraded ----------------------------------------------------------
phase=$(date +%s)
kept() {
    users "$1"
    expect "doorplate's uid ($1)" "$uid" "$first_uid"
    expect "/var/lib/doorplate ($1)" "$(stat_of /var/lib/doorplate)" "doorplate:doorplate 700"
    exists /var/lib/doorplate/doorplate.db || fail "the database is gone ($1)"
    expect "the key ($1)" "$(stat_of /var/lib/doorplate/secret.key)" "doorplate:doorplate 600"
}
run "dpkg -i (again)" on dpkg -i "/root/$debname"
expect "the package's state after dpkg -i again" "$(pkg_state)" \
    "install ok installed $version"
kept "after dpkg -i again"
grep -qx 'listen = "127.0.0.1:0"' "$conf" || fail "dpkg -i again lost the configuration's edit"
expect "the configuration after dpkg -i again" "$(stat_of /etc/doorplate/doorplate.conf)" "root:doorplate 640"
expect "the unit after dpkg -i again" "$(on systemctl is-enabled doorplate.service)" enabled

# The next version: this package with a higher version number.
next="$version+1"
dpkg --compare-versions "$next" gt "$version" || fail "$next is not above $version"
dpkg-deb -R "$deb" "$work/next"
sed -i "s/^Version: .*/Version: $next/" "$work/next/DEBIAN/control"
run "dpkg-deb --build (the next version)" dpkg-deb --build -Znone "$work/next" "$root/root/next.deb"
rm -rf "$work/next"
run "dpkg -i (an upgrade to $next)" on dpkg -i /root/next.deb
expect "the package's state after the upgrade" "$(pkg_state)" \
    "install ok installed $next"
kept "after the upgrade"
grep -qx 'listen = "127.0.0.1:0"' "$conf" || fail "the upgrade lost the configuration's edit"
expect "the configuration after the upgrade" "$(stat_of /etc/doorplate/doorplate.conf)" "root:doorplate 640"
expect "the unit after the upgrade" "$(on systemctl is-enabled doorplate.service)" enabled
serve_and_sign_in "after the upgrade"
echo "dpkg -i again, an upgrade to $next: the user, the data and the edited configuration kept: ok ($(($(date +%s) - phase)) s)"

# --- Removed, purged, installed again -----------------------------------------------------
phase=$(date +%s)
run "dpkg -r doorplate" on dpkg -r doorplate
expect "the package's state after dpkg -r" "$(pkg_state)" "deinstall ok config-files $next"
! exists /usr/bin/doorplate || fail "dpkg -r left /usr/bin/doorplate"
! exists /lib/systemd/system/doorplate.service || fail "dpkg -r left the unit"
expect "what enables the unit after dpkg -r" "$(on find /etc/systemd -name 'doorplate*')" ""
kept "after dpkg -r"
grep -qx 'listen = "127.0.0.1:0"' "$conf" || fail "dpkg -r lost the configuration (its edit)"

run "dpkg --purge doorplate" on dpkg --purge doorplate
status=$(pkg_state)
case "$status" in
    *not-installed* | "not known") ;;
    *) fail "the package's state after dpkg --purge: $status" ;;
esac
! exists /etc/doorplate || fail "dpkg --purge left /etc/doorplate: $(on ls -A /etc/doorplate)"
# postrm: the data folder and the user stay, even on purge.
kept "after dpkg --purge"

run "dpkg -i (after the purge)" on dpkg -i "/root/$debname"
kept "installed again after the purge"
expect "the configuration, installed again" "$(stat_of /etc/doorplate/doorplate.conf)" "root:doorplate 640"
grep -qx 'listen = "127.0.0.1:8080"' "$conf" || fail "installed again, the configuration is not the packaged one"
echo "dpkg -r kept the configuration and the data; dpkg --purge the data folder and the user, which a new install takes back: ok ($(($(date +%s) - phase)) s)"

echo "installed on a throwaway Debian $suite machine: $(($(date +%s) - built)) s (the build before: $((built - started)) s)"
echo "package ok: $deb"
