#!/usr/bin/env bash
# Installs KaryoCount as a systemd service: user, folders, config, binary, models, units. Idempotent: rerunning
# updates the binary, models and units and never overwrites an existing /etc/karyocount/config.toml.
#
#   sudo Deploy/install.sh [--prefix /usr/local] [--binary PATH] [--drop-group GROUP] [--no-start]
#   DESTDIR=/tmp/root Deploy/install.sh ...   # stage into a folder: no user, no chown, no systemctl
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(dirname "$here")"
prefix=/usr/local
binary="$repo/.build/release/karyocount"
drop_group=""
start=1
destdir="${DESTDIR:-}"

usage() {
    sed -n '2,7p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
    exit "${1:-0}"
}

while [ $# -gt 0 ]; do
    case "$1" in
        --prefix) prefix="$2"; shift 2 ;;
        --prefix=*) prefix="${1#*=}"; shift ;;
        --destdir) destdir="$2"; shift 2 ;;
        --destdir=*) destdir="${1#*=}"; shift ;;
        --binary) binary="$2"; shift 2 ;;
        --binary=*) binary="${1#*=}"; shift ;;
        --drop-group) drop_group="$2"; shift 2 ;;
        --drop-group=*) drop_group="${1#*=}"; shift ;;
        --no-start) start=0; shift ;;
        -h|--help) usage 0 ;;
        *) echo "install.sh: unknown option $1" >&2; usage 2 >&2 ;;
    esac
done

say() { echo "install.sh: $*"; }
fail() { echo "install.sh: error: $*" >&2; exit 1; }

[ -x "$binary" ] || fail "no karyocount binary at $binary; run \`make release\` or pass --binary PATH"
case "$prefix" in /*) ;; *) fail "--prefix must be an absolute path, got $prefix" ;; esac
if [ -n "$destdir" ]; then
    destdir="$(mkdir -p "$destdir" && cd "$destdir" && pwd)"
    live=0
    say "staging into $destdir (no user, ownership or systemctl changes)"
else
    [ "$(id -u)" = 0 ] || fail "run as root (sudo), or set DESTDIR to stage into a folder"
    live=1
fi

user=karyocount
etc="$destdir/etc/karyocount"
units="$destdir/etc/systemd/system"
bindir="$destdir$prefix/bin"
share="$destdir$prefix/share/karyocount"
drop="$destdir/srv/karyocount/drop"
output="$destdir/srv/karyocount/output"
state="$destdir/var/lib/karyocount"

# 1. The service user: a system account without a login shell; its home is the state folder.
if [ "$live" = 1 ]; then
    if ! getent group "$user" >/dev/null; then groupadd --system "$user"; say "created group $user"; fi
    if ! getent passwd "$user" >/dev/null; then
        useradd --system --gid "$user" --home-dir /var/lib/karyocount --no-create-home \
            --shell /usr/sbin/nologin --comment "KaryoCount daemon" "$user"
        say "created user $user"
    fi
    if [ -n "$drop_group" ]; then
        getent group "$drop_group" >/dev/null || fail "group $drop_group does not exist"
    fi
fi

# 2. Folders. The drop folder is readable by the service; with --drop-group the microscope's group may write it.
install -d -m 0755 "$etc" "$units" "$bindir" "$share"
install -d -m 0750 "$state" "$output"
install -d -m 2775 "$drop"
if [ "$live" = 1 ]; then
    chown "$user:$user" "$state" "$output"
    chown "root:${drop_group:-$user}" "$drop"
fi

# 3. Configuration: only when absent, so local edits survive reinstalls.
if [ -e "$etc/config.toml" ]; then
    say "keeping existing $etc/config.toml"
else
    install -m 0640 "$here/config.example.toml" "$etc/config.toml"
    [ "$live" = 1 ] && chown "root:$user" "$etc/config.toml"
    say "wrote $etc/config.toml (edit watch_roots/output_root; keep the unit's ReadWritePaths in step)"
fi

# 4. Binary and models.
install -m 0755 "$binary" "$bindir/karyocount"
if [ -d "$repo/Models" ]; then
    mkdir -p "$share/models"
    cp -R "$repo/Models/." "$share/models/"
    chmod -R u=rwX,go=rX "$share/models"
    say "installed models into $share/models"
fi

# 5. Units, with ExecStart pointing at this prefix; the optional group drop-in.
for unit in karyocount.service karyocount-summary.service karyocount-summary.timer; do
    sed "s#/usr/local/bin/karyocount#$prefix/bin/karyocount#g" "$repo/systemd/$unit" >"$units/$unit.new"
    chmod 0644 "$units/$unit.new"
    mv "$units/$unit.new" "$units/$unit"
done
if [ -n "$drop_group" ]; then
    install -d -m 0755 "$units/karyocount.service.d"
    printf '[Service]\nSupplementaryGroups=%s\n' "$drop_group" >"$units/karyocount.service.d/10-drop-group.conf"
    say "the daemon joins group $drop_group (drop-in 10-drop-group.conf)"
fi

# 6. systemd: reload, enable, (re)start.
if [ "$live" = 1 ] && [ -d /run/systemd/system ] && command -v systemctl >/dev/null; then
    systemctl daemon-reload
    if [ "$start" = 1 ]; then
        systemctl enable karyocount.service karyocount-summary.timer
        systemctl restart karyocount.service
        systemctl start karyocount-summary.timer
        say "karyocount.service is running: systemctl status karyocount; journalctl -u karyocount -f"
    else
        systemctl enable karyocount.service karyocount-summary.timer
        say "enabled; start with: systemctl start karyocount.service karyocount-summary.timer"
    fi
else
    say "systemd not running here (or staging): units installed, nothing enabled"
fi
say "done"
