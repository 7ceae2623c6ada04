#!/bin/sh
# campusgate-gate postinst: gated's own user, in the groups its hardware needs; udev and systemd told.
set -e
if ! getent passwd campusgate >/dev/null; then
  adduser --system --group --home /var/lib/campusgate --gecos "campusgate gate daemon" campusgate >/dev/null
fi
# The state (journal or database) is the user's alone; systemd's StateDirectory= keeps it so.
install -d -o campusgate -g campusgate -m 0750 /var/lib/campusgate
for g in i2c gpio dialout input audio; do
  getent group "$g" >/dev/null || addgroup --system "$g" >/dev/null
  adduser campusgate "$g" >/dev/null 2>&1 || true
done
chgrp campusgate /etc/campusgate/gated.toml 2>/dev/null || true
if command -v udevadm >/dev/null; then
  udevadm control --reload >/dev/null 2>&1 || true
  udevadm trigger --subsystem-match=tty --subsystem-match=input >/dev/null 2>&1 || true
fi
if [ -d /run/systemd/system ]; then
  systemctl daemon-reload >/dev/null 2>&1 || true
  systemctl enable gated.service >/dev/null 2>&1 || true
  if grep -q CHANGE-ME /etc/campusgate/gated.toml; then
    echo "campusgate-gate: edit /etc/campusgate/gated.toml (gate_id, school_id, devices, sync), check the box with"
    echo "  sudo gatectl hw check -config /etc/campusgate/gated.toml"
    echo "then: sudo systemctl start gated. The boot settings for the board are in /usr/share/campusgate/boot/."
  else
    systemctl try-restart gated.service >/dev/null 2>&1 || true
  fi
fi
exit 0
