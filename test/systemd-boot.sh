#!/usr/bin/env bash
# Manual check (not run by CI: it needs root, a Debian mirror and about 5
# minutes): boots a real systemd in a container (systemd-nspawn on a
# debootstrapped Debian 12) and runs deploy/m2m-gateway.service as shipped on
# the package installed from a tarball, with this machine's Node bound in.
# Checks: Type=notify readiness (active only once /api/health answers), the
# hardening lets Node run, log priorities in the journal, secrets not in the
# journal, SIGTERM stop with status 0, an invalid M2M_LOG_LEVEL exits 2 without
# restarts, and a stalled event loop (SIGSTOP) is killed by the watchdog and
# restarted.
#
#   sudo bash test/systemd-boot.sh [workdir]     (default /tmp/m2m-systemd-boot)
#
# Needs the build (npm run build). Installs systemd-container and debootstrap
# (Debian packages) when missing. The rootfs is kept in the workdir for reruns.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=${1:-/tmp/m2m-systemd-boot}
FS=$WORK/rootfs
MACHINE=m2m-boot-$$
mkdir -p "$WORK"

command -v systemd-nspawn >/dev/null && command -v debootstrap >/dev/null || {
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends systemd-container debootstrap >/dev/null
}

if [ ! -x "$FS/usr/lib/systemd/systemd" ]; then
  rm -rf "$FS"
  debootstrap --variant=minbase --include=systemd,systemd-sysv,dbus,libstdc++6,python3 bookworm "$FS" http://deb.debian.org/debian >/dev/null
  chroot "$FS" useradd --system --home /var/lib/m2m-gateway --shell /usr/sbin/nologin m2m
fi

# The package, installed the documented way (production dependencies only).
rm -rf "$WORK/prefix" "$WORK"/*.tgz
(cd "$ROOT" && npm pack --pack-destination "$WORK" >/dev/null)
npm install -g --omit=dev --allow-scripts=better-sqlite3,@serialport/bindings-cpp --prefix "$WORK/prefix" --no-audit --no-fund "$WORK"/m2m-gateway-*.tgz >/dev/null

mkdir -p "$FS/opt/m2m-gateway" "$FS/etc/m2m-gateway" "$FS/etc/systemd/system/multi-user.target.wants"
rm -rf "$FS/etc/systemd/system/m2m-gateway.service.d" "$FS/var/lib/m2m-gateway"
install -m 0644 "$ROOT/deploy/m2m-gateway.service" "$FS/etc/systemd/system/"
install -m 0640 -g "$(chroot "$FS" id -g m2m)" "$ROOT/deploy/m2m-gateway.example.yaml" "$FS/etc/m2m-gateway/m2m-gateway.yaml"
ln -sf /etc/systemd/system/m2m-gateway.service "$FS/etc/systemd/system/multi-user.target.wants/"
touch "$FS/usr/bin/node"

# nspawn refuses to clean up its propagation dir on a disk /run: give it a tmpfs.
mkdir -p /run/systemd/nspawn
mounted_tmpfs=""
if ! mountpoint -q /run/systemd/nspawn; then mount -t tmpfs tmpfs /run/systemd/nspawn && mounted_tmpfs=1; fi
systemd-nspawn -D "$FS" -b --private-network --register=no --keep-unit -M "$MACHINE" \
  --bind-ro="$WORK/prefix:/opt/m2m-gateway" --bind-ro="$(command -v node):/usr/bin/node" --console=pipe >"$WORK/nspawn.log" 2>&1 &
NSPAWN=$!
cleanup() {
  kill "$NSPAWN" 2>/dev/null || true
  wait "$NSPAWN" 2>/dev/null || true
  [ -z "$mounted_tmpfs" ] || umount /run/systemd/nspawn || true
}
trap cleanup EXIT

leader=""
for _ in $(seq 1 100); do
  leader=$(pgrep -P "$NSPAWN" -x systemd || true)
  [ -n "$leader" ] && break
  sleep 0.2
done
[ -n "$leader" ] || { echo "no systemd in the container"; cat "$WORK/nspawn.log"; exit 1; }
inside() { nsenter -t "$leader" -a "$@"; }
show() { inside systemctl show m2m-gateway -p "$1" --value; }
fail() { echo "FAIL: $*"; inside journalctl -b -u m2m-gateway --no-pager -n 30 || true; exit 1; }
# The unit's journal of this boot, in a file (grep -q on a pipe would SIGPIPE journalctl under pipefail).
journal() { inside journalctl -b -u m2m-gateway --no-pager "$@" >"$WORK/journal.txt" || true; }
passed=0
ok() { echo "ok: $*"; passed=$((passed + 1)); }

for _ in $(seq 1 120); do [ "$(inside systemctl is-system-running 2>/dev/null || true)" = running ] && break; sleep 0.5; done
[ "$(show ActiveState)" = active ] || fail "unit not active: $(show ActiveState) $(show Result)"
health=$(inside python3 -c 'import urllib.request; print(urllib.request.urlopen("http://127.0.0.1:8080/api/health").status)')
[ "$health" = 200 ] || fail "health $health"
ok "Type=notify: active, status \"$(show StatusText)\", /api/health 200"

sleep 16
[ -n "$(show WatchdogTimestamp)" ] && [ "$(show NRestarts)" = 0 ] || fail "watchdog not fed"
ok "watchdog fed ($(show WatchdogUSec)), no restart"

prio=$(inside journalctl -b -u m2m-gateway -o json --no-pager | python3 -c '
import json, sys
seen = set()
for line in sys.stdin:
    j = json.loads(line); m = j.get("MESSAGE")
    if isinstance(m, str) and m.startswith("{"):
        lvl = json.loads(m)["level"]
        want = "3" if lvl >= 50 else "4" if lvl >= 40 else "6" if lvl >= 30 else "7"
        if j["PRIORITY"] != want: print("BAD", lvl, j["PRIORITY"]); sys.exit(1)
        seen.add(j["PRIORITY"])
print(" ".join(sorted(seen)))')
ok "journal priorities match the log levels (seen: $prio)"
secret=$(inside python3 -c 'import json; print(json.load(open("/var/lib/m2m-gateway/secrets.json"))["adminToken"])')
inside journalctl --no-pager >"$WORK/journal-all.txt" || true
grep -qF "$secret" "$WORK/journal-all.txt" && fail "admin token in the journal"
ok "secrets stay out of the journal"

inside systemctl stop m2m-gateway
[ "$(show ExecMainStatus)" = 0 ] && [ "$(show Result)" = success ] || fail "stop: status $(show ExecMainStatus)"
ok "SIGTERM stop: exit 0"

mkdir -p "$FS/etc/systemd/system/m2m-gateway.service.d"
printf '[Service]\nEnvironment=M2M_LOG_LEVEL=verbose\n' >"$FS/etc/systemd/system/m2m-gateway.service.d/test.conf"
inside systemctl daemon-reload
inside systemctl start m2m-gateway 2>/dev/null || true
sleep 6
[ "$(show ExecMainStatus)" = 2 ] && [ "$(show NRestarts)" = 0 ] && [ "$(show ActiveState)" = failed ] || fail "bad level: status $(show ExecMainStatus), restarts $(show NRestarts)"
journal -p err
grep -q 'M2M_LOG_LEVEL: expected one of' "$WORK/journal.txt" || fail "config error not at priority err"
ok "invalid M2M_LOG_LEVEL: exit 2, no restart, error at priority err"

printf '[Service]\nWatchdogSec=4s\n' >"$FS/etc/systemd/system/m2m-gateway.service.d/test.conf"
inside systemctl daemon-reload
inside systemctl reset-failed m2m-gateway
inside systemctl start m2m-gateway
pid=$(pgrep -f "node /opt/m2m-gateway/bin/m2m-gateway start" | head -1)
kill -STOP "$pid"
for _ in $(seq 1 60); do [ "$(show NRestarts)" = 1 ] && [ "$(show ActiveState)" = active ] && break; sleep 0.5; done
journal
grep -q 'Watchdog timeout' "$WORK/journal.txt" && [ "$(show ActiveState)" = active ] || fail "watchdog did not restart a stalled gateway"
ok "stalled event loop: watchdog timeout, SIGABRT, restarted"

rm -rf "$FS/etc/systemd/system/m2m-gateway.service.d"
inside systemctl poweroff || true
echo "$passed passed, 0 failed"
