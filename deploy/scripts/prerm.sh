#!/bin/sh
# campusgate prerm (gate, server and kiosk packages): stop the package's daemon on removal (an upgrade restarts it in
# postinst instead).
set -e
case "$DPKG_MAINTSCRIPT_PACKAGE" in
  campusgate-gate) unit=gated.service ;;
  campusgate-server) unit=campusd.service ;;
  campusgate-kiosk) unit=campusgate-kiosk.service ;;
  *) exit 0 ;;
esac
if [ "$1" = remove ] && [ -d /run/systemd/system ]; then
  systemctl stop "$unit" >/dev/null 2>&1 || true
  systemctl disable "$unit" >/dev/null 2>&1 || true
fi
exit 0
