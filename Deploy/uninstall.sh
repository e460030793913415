#!/usr/bin/env bash
# Removes the KaryoCount service: units, binary, models. Keeps configuration, results, state and the user
# unless --purge is given. Idempotent.
#
#   sudo Deploy/uninstall.sh [--prefix /usr/local] [--purge]
#   DESTDIR=/tmp/root Deploy/uninstall.sh ...   # undo a staged install
set -euo pipefail

prefix=/usr/local
purge=0
destdir="${DESTDIR:-}"

while [ $# -gt 0 ]; do
    case "$1" in
        --prefix) prefix="$2"; shift 2 ;;
        --prefix=*) prefix="${1#*=}"; shift ;;
        --destdir) destdir="$2"; shift 2 ;;
        --destdir=*) destdir="${1#*=}"; shift ;;
        --purge) purge=1; shift ;;
        -h|--help) sed -n '2,7p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "uninstall.sh: unknown option $1" >&2; exit 2 ;;
    esac
done

say() { echo "uninstall.sh: $*"; }
live=0
if [ -z "$destdir" ]; then
    [ "$(id -u)" = 0 ] || { echo "uninstall.sh: error: run as root, or set DESTDIR" >&2; exit 1; }
    live=1
fi

units="$destdir/etc/systemd/system"
if [ "$live" = 1 ] && [ -d /run/systemd/system ] && command -v systemctl >/dev/null; then
    systemctl disable --now karyocount-summary.timer karyocount.service 2>/dev/null || true
fi
rm -f "$units/karyocount.service" "$units/karyocount-summary.service" "$units/karyocount-summary.timer"
rm -rf "$units/karyocount.service.d"
rm -f "$destdir$prefix/bin/karyocount"
rm -rf "$destdir$prefix/share/karyocount"
if [ "$live" = 1 ] && [ -d /run/systemd/system ] && command -v systemctl >/dev/null; then
    systemctl daemon-reload
fi
say "removed units, binary and models"

if [ "$purge" = 1 ]; then
    rm -rf "$destdir/etc/karyocount" "$destdir/var/lib/karyocount" "$destdir/srv/karyocount"
    if [ "$live" = 1 ] && getent passwd karyocount >/dev/null; then userdel karyocount || true; fi
    if [ "$live" = 1 ] && getent group karyocount >/dev/null; then groupdel karyocount 2>/dev/null || true; fi
    say "purged configuration, state, drop folders, results and the karyocount user"
else
    say "kept /etc/karyocount, /var/lib/karyocount, /srv/karyocount and the karyocount user (--purge removes them)"
fi
