#!/bin/sh
# campusgate-kiosk postinst: the kiosk's own user (no password, no shell: systemd opens its session), the unit
# enabled and started.
set -e
if ! getent passwd campusgate-kiosk >/dev/null; then
  adduser --system --group --home /var/lib/campusgate-kiosk --gecos "campusgate kiosk screen" campusgate-kiosk >/dev/null
fi
for g in video render input; do
  getent group "$g" >/dev/null || addgroup --system "$g" >/dev/null
  adduser campusgate-kiosk "$g" >/dev/null 2>&1 || true
done
if [ -d /run/systemd/system ]; then
  systemctl daemon-reload >/dev/null 2>&1 || true
  systemctl enable campusgate-kiosk.service >/dev/null 2>&1 || true
  if systemctl is-enabled display-manager.service >/dev/null 2>&1; then
    echo "campusgate-kiosk: a desktop (display-manager.service) also wants the screen: use Raspberry Pi OS Lite, or"
    echo "  sudo systemctl disable display-manager && sudo systemctl set-default multi-user.target"
  fi
  systemctl restart campusgate-kiosk.service >/dev/null 2>&1 || true
fi
exit 0
