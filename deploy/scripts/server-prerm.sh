#!/bin/sh
# campusgate-server prerm: stop campusd on removal (an upgrade restarts it in postinst instead).
set -e
if [ "$1" = remove ] && [ -d /run/systemd/system ]; then
  systemctl stop campusd.service >/dev/null 2>&1 || true
  systemctl disable campusd.service >/dev/null 2>&1 || true
fi
exit 0
