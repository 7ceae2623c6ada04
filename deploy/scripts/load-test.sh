#!/usr/bin/env bash
# The district load test on one machine (README: Load test): campusd behind a real mosquitto (deploy/mosquitto's
# configuration and ACL) on PostgreSQL or SQLite, and `gatectl sim fleet` with N gates, each its own MQTT connection
# and journal. Prints the fleet's table, then the servers' peak resident memory.
#
#   deploy/scripts/load-test.sh [postgres|sqlite] [GATES] [DURATION]      default: postgres 2000 2m
#   RATE=1 (entries a second a gate at the peak)  KEEP=1 (keep the work directory)
#
# Needs Go, mosquitto (mosquitto_passwd) and, for postgres, PostgreSQL's server binaries (Debian's postgresql).
# Everything listens on 127.0.0.1; everything it writes is under one temporary directory. PostgreSQL runs with its
# defaults (fsync on), as a school's would.
set -euo pipefail
cd "$(dirname "$0")/../.."
db=${1:-postgres} gates=${2:-2000} duration=${3:-2m} rate=${RATE:-1}
case $db in postgres|sqlite) ;; *) echo "usage: $0 [postgres|sqlite] [GATES] [DURATION]" >&2; exit 2 ;; esac
work=$(mktemp -d /tmp/campusgate-load-XXXXXX)
chmod 711 "$work" # PostgreSQL runs as its own user below
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [ -n "${pgdata:-}" ]; then as_pg "$pgbin/pg_ctl" -D "$pgdata" -m fast -w stop >/dev/null 2>&1 || true; fi
  if [ "${KEEP:-}" = 1 ]; then echo "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# Thousands of connections and journal files.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

echo "== building"
go build -o "$work/bin/" ./cmd/campusd ./cmd/gatectl

school=hz
fleet_pw=$(head -c 18 /dev/urandom | base64 | tr -d '/+=')
server_pw=$(head -c 18 /dev/urandom | base64 | tr -d '/+=')
echo "$fleet_pw" > "$work/fleet-password"
echo "$server_pw" > "$work/server-password"
chmod 600 "$work"/*-password

echo "== mosquitto: $gates gate accounts"
mq_port=$(free_port)
mkdir -p "$work/mosquitto"
{
  echo "campusd@$school:$server_pw"
  for i in $(seq -f %04g 1 "$gates"); do echo "fleet-$i:$fleet_pw"; done
} > "$work/mosquitto/passwd"
mosquitto_passwd -U "$work/mosquitto/passwd"
sed "s/SCHOOL/$school/g" deploy/mosquitto/acl.tmpl > "$work/mosquitto/acl"
sed -e "s|/etc/mosquitto/campusgate.passwd|$work/mosquitto/passwd|" -e "s|/etc/mosquitto/campusgate.acl|$work/mosquitto/acl|" \
    -e "s|/var/lib/mosquitto/|$work/mosquitto/|" -e "s|listener 1883 127.0.0.1|listener $mq_port 127.0.0.1|" \
    deploy/mosquitto/mosquitto.conf > "$work/mosquitto/mosquitto.conf"
if [ "$(id -u)" = 0 ]; then echo "user root" >> "$work/mosquitto/mosquitto.conf"; fi
mosquitto -c "$work/mosquitto/mosquitto.conf" > "$work/mosquitto/log" 2>&1 &
mq_pid=$!; pids+=("$mq_pid")

dbflag=()
if [ "$db" = postgres ]; then
  echo "== PostgreSQL"
  pgbin=$(dirname "$(readlink -f "$(command -v initdb 2>/dev/null || ls -d /usr/lib/postgresql/*/bin/initdb | sort -V | tail -1)")")
  as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
  pgdata=$work/pg/data pg_port=$(free_port)
  mkdir -p "$work/pg"; [ "$(id -u)" = 0 ] && chown postgres "$work/pg"
  as_pg "$pgbin/initdb" -D "$pgdata" -U postgres --auth=trust --encoding=UTF8 --locale=C >/dev/null
  as_pg "$pgbin/pg_ctl" -D "$pgdata" -w -l "$work/pg/log" \
      -o "-c listen_addresses=127.0.0.1 -c port=$pg_port -c unix_socket_directories=$work/pg" start >/dev/null
  as_pg "$pgbin/createdb" -h 127.0.0.1 -p "$pg_port" -U postgres campusgate
  dbflag=(-db "postgres://postgres@127.0.0.1:$pg_port/campusgate?sslmode=disable")
fi

echo "== campusd ($db)"
http=127.0.0.1:$(free_port)
state=$work/campusd
mkdir -p "$state"
nurse_pw=$(head -c 18 /dev/urandom | base64 | tr -d '/+=')
echo "$nurse_pw" | "$work/bin/campusd" user add -state "$state" "${dbflag[@]}" -role nurse -name 校医 -password-stdin nurse
"$work/bin/campusd" -state "$state" "${dbflag[@]}" -school "$school" -http "$http" -metrics-addr "" \
    -broker "tcp://127.0.0.1:$mq_port" -broker-user "campusd@$school" -broker-password-file "$work/server-password" \
    > "$work/campusd.out" 2> "$work/campusd.log" &
cd_pid=$!; pids+=("$cd_pid")
for _ in $(seq 100); do grep -q "web console on" "$work/campusd.out" && break; sleep 0.1; done
grep -q "web console on" "$work/campusd.out" || { cat "$work/campusd.log"; exit 1; }

# The servers' resident memory, every second: the peak is printed at the end.
rss() { awk '/VmRSS/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
( peak_c=0 peak_m=0 peak_p=0
  while kill -0 "$cd_pid" 2>/dev/null; do
    c=$(rss "$cd_pid") m=$(rss "$mq_pid") p=0
    if [ "$db" = postgres ]; then p=$(ps -o rss= -u postgres 2>/dev/null | awk '{s+=$1} END {print s+0}'); fi
    [ "$c" -gt "$peak_c" ] && peak_c=$c; [ "$m" -gt "$peak_m" ] && peak_m=$m; [ "$p" -gt "$peak_p" ] && peak_p=$p
    echo "$peak_c $peak_m $peak_p" > "$work/peak-rss"
    sleep 1
  done ) &
pids+=("$!")

echo "== gatectl sim fleet: $gates gates, $rate entries/s each at the peak, $duration"
set +e
CAMPUSGATE_PASSWORD=$nurse_pw "$work/bin/gatectl" sim fleet -password-file "$work/fleet-password" -school "$school" \
    -broker "mqtt://127.0.0.1:$mq_port" -console "http://$http" -user nurse \
    -gates "$gates" -rate "$rate" -duration "$duration" -connect-wait 3m -journals "$work/journals"
code=$?
set -e
read -r peak_c peak_m peak_p < "$work/peak-rss"
echo
printf 'peak resident memory: campusd %d MiB, mosquitto %d MiB' $((peak_c / 1024)) $((peak_m / 1024))
if [ "$db" = postgres ]; then printf ', PostgreSQL (all its processes) %d MiB' $((peak_p / 1024)); fi
echo
kill -TERM "$cd_pid"; wait "$cd_pid" 2>/dev/null || true
grep -o 'stats="[^"]*"' "$work/campusd.log" | tail -1 | sed 's/^/campusd /'
exit $code
