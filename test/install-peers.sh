#!/usr/bin/env bash
# Installs the independent peers the test suite talks to (Debian packages),
# only when something is missing, so a fresh machine and CI both pass:
#   python3-pymodbus + python3-serial-asyncio  Modbus TCP/RTU servers (/usr/bin/python3)
#   socat                                      serial pty pairs
#   mbpoll                                     cross-checks Modbus addressing
#   mosquitto                                  MQTT broker on a loopback port
#   udev                                       SerialPort.list() needs it
#   chromium                                   browser for the editor e2e test (test/e2e, playwright-core)
#   python3-cryptography                       independent ed25519 check of voucher signatures
#   systemd                                    systemd-analyze (verify + security of deploy/m2m-gateway.service),
#                                              systemd-notify (sd_notify READY/WATCHDOG of `start`)
#   prometheus (for promtool)                  checks the /metrics exposition
#   bsdutils (for script)                      a pseudo-terminal for the first-start credentials test
set -euo pipefail

missing=()
/usr/bin/python3 -c 'import pymodbus, serial_asyncio' 2>/dev/null || missing+=(python3-pymodbus python3-serial-asyncio)
/usr/bin/python3 -c 'import cryptography' 2>/dev/null || missing+=(python3-cryptography)
command -v socat >/dev/null || missing+=(socat)
command -v mbpoll >/dev/null || missing+=(mbpoll)
command -v mosquitto >/dev/null || [ -x /usr/sbin/mosquitto ] || missing+=(mosquitto)
[ -x /lib/systemd/systemd-udevd ] || command -v udevadm >/dev/null || missing+=(udev)
[ -x /usr/bin/chromium ] || missing+=(chromium)
{ [ -x /usr/bin/systemd-analyze ] && command -v systemd-notify >/dev/null; } || missing+=(systemd)
command -v promtool >/dev/null || missing+=(prometheus)
command -v script >/dev/null || missing+=(bsdutils)

if [ ${#missing[@]} -eq 0 ]; then
  echo "test peers: all present"
  exit 0
fi
echo "test peers: installing ${missing[*]}"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "test peers: installed"
