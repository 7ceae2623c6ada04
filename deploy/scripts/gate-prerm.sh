#!/bin/sh
# campusgate-gate prerm: stop gated on removal (an upgrade restarts it in postinst instead).
set -e
if [ "$1" = remove ] && [ -d /run/systemd/system ]; then
  systemctl stop gated.service >/dev/null 2>&1 || true
  systemctl disable gated.service >/dev/null 2>&1 || true
fi
exit 0
