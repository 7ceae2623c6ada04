#!/bin/sh
# campusgate-server postinst: campusd's own user; systemd told.
set -e
if ! getent passwd campusd >/dev/null; then
  adduser --system --group --home /var/lib/campusgate-server --gecos "campusgate school server" campusd >/dev/null
fi
# The state (journal or database) is the user's alone; systemd's StateDirectory= keeps it so.
install -d -o campusd -g campusd -m 0750 /var/lib/campusgate-server
chgrp campusd /etc/campusgate/campusd.env 2>/dev/null || true
if [ -d /run/systemd/system ]; then
  systemctl daemon-reload >/dev/null 2>&1 || true
  systemctl enable campusd.service >/dev/null 2>&1 || true
  if grep -q CHANGE-ME /etc/campusgate/campusd.env; then
    echo "campusgate-server: set -school in /etc/campusgate/campusd.env, then: sudo systemctl start campusd"
    echo "  (its first start prints the console's first admin password: sudo journalctl -u campusd | grep 'first console account')"
  else
    systemctl try-restart campusd.service >/dev/null 2>&1 || true
  fi
fi
exit 0
