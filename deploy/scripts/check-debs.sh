#!/usr/bin/env bash
# check-debs.sh DIST: checks the packages make deb built, as a box's dpkg would see them: their control fields, the
# files they hold and those files' modes, binaries that are static and for the package's architecture, maintainer
# scripts that parse, and systemd units that pass systemd-analyze verify. With CI=true (or INSTALL=1) and root, the
# amd64 tools and server packages are also installed, their user checked, campusd started from the installed files
# as that user, and the packages removed again.
set -euo pipefail
dist=${1:-dist}
fail=0
bad() { echo "FAIL: $*" >&2; fail=1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

declare -A machine=([arm64]=AArch64 [armhf]=ARM [amd64]="X86-64")
declare -A want=(
  [gate]="/usr/bin/gated 755|/usr/lib/systemd/system/gated.service 644|/etc/campusgate/gated.toml 640|/usr/lib/udev/rules.d/99-campusgate-scanners.rules 644|/usr/share/campusgate/boot/pi4.txt 644|/usr/share/campusgate/profiles/boards/pi-4b.toml 644|/usr/share/campusgate/profiles/sensors/mlx90614.toml 644|/usr/share/campusgate/profiles/scanners/uart-9600.toml 644|/usr/share/campusgate/time/chrony-gate.conf 644|/usr/share/campusgate/time/timesyncd-gate.conf 644|/usr/share/campusgate/sounds/zh-CN/pass.wav 644|/usr/share/campusgate/sounds/zh-CN/fever.wav 644|/usr/share/campusgate/sounds/en/pass.wav 644|/usr/share/campusgate/sounds/prompts.tsv 644"
  [server]="/usr/bin/campusd 755|/usr/lib/systemd/system/campusd.service 644|/etc/campusgate/campusd.env 640|/usr/share/campusgate/mosquitto/mosquitto.conf 644|/usr/share/campusgate/mosquitto/tls.conf 644|/usr/share/campusgate/time/chrony-server.conf 644"
  [tools]="/usr/bin/gatectl 755"
  [kiosk]="/usr/lib/campusgate/campusgate-kiosk 755|/usr/lib/systemd/system/campusgate-kiosk.service 644|/etc/campusgate/kiosk.env 644|/etc/pam.d/campusgate-kiosk 644"
)

shopt -s nullglob
debs=("$dist"/campusgate-*.deb)
[ ${#debs[@]} -gt 0 ] || { echo "no packages in $dist (make deb)" >&2; exit 1; }
# Every package make deb builds is there: the checks below that need one of them are not skipped unseen.
for want_deb in gate_arm64 gate_armhf server_arm64 server_armhf server_amd64 tools_arm64 tools_armhf tools_amd64 kiosk_all; do
  k=${want_deb%_*} a=${want_deb#*_}
  ls "$dist"/campusgate-"$k"_*_"$a".deb >/dev/null 2>&1 || bad "campusgate-$k for $a missing from $dist"
done
if ! command -v systemd-analyze >/dev/null; then
  if [ "${CI:-}" = true ]; then bad "systemd-analyze missing (CI=true: .ci/run installs systemd)"; else echo "systemd-analyze not installed: units not verified"; fi
fi

# verify_unit NAME FILE: systemd-analyze verify, which must neither fail nor warn (beyond there being no running
# systemd to connect to).
verify_unit() {
  command -v systemd-analyze >/dev/null || return 0
  local out
  if ! out=$(SYSTEMD_LOG_LEVEL=warning systemd-analyze verify --man=no "$2" 2>&1); then
    echo "$out" >&2; bad "$1: systemd-analyze verify"
  elif grep -v -e 'Failed to connect' -e 'not running' <<<"$out" | grep -q .; then
    echo "$out" >&2; bad "$1: systemd-analyze verify warns"
  fi
}
for deb in "${debs[@]}"; do
  base=$(basename "$deb" .deb)
  pkg=${base%%_*}; kind=${pkg#campusgate-}; arch=${base##*_}
  echo "== $base"
  info=$(dpkg-deb -f "$deb" Package Architecture Version Depends)
  grep -q "^Package: $pkg$" <<<"$info" || bad "$base: Package field"
  grep -q "^Architecture: $arch$" <<<"$info" || bad "$base: Architecture field is not $arch"
  case $kind in
    gate|server) grep -q "campusgate-tools (= " <<<"$info" || bad "$base: does not depend on the same campusgate-tools" ;;
    kiosk) grep -q "campusgate-gate (= " <<<"$info" || bad "$base: does not depend on the same campusgate-gate" ;;
  esac
  # The voice's prompts need aplay: gated names it when [voice] is on and it is missing.
  if [ "$kind" = gate ]; then dpkg-deb -f "$deb" Recommends | grep -qw alsa-utils || bad "$base: does not recommend alsa-utils"; fi

  list=$(dpkg-deb -c "$deb")
  IFS='|' read -ra files <<<"${want[$kind]}"
  for fm in "${files[@]}"; do
    f=${fm% *}; m=${fm##* }
    line=$(awk -v f=".$f" '$6 == f' <<<"$list")
    [ -n "$line" ] || { bad "$base: $f missing"; continue; }
    perm=$(awk '{print $1}' <<<"$line")
    case "$m" in
      755) [ "$perm" = -rwxr-xr-x ] || bad "$base: $f is $perm, want 0755" ;;
      644) [ "$perm" = -rw-r--r-- ] || bad "$base: $f is $perm, want 0644" ;;
      640) [ "$perm" = -rw-r----- ] || bad "$base: $f is $perm, want 0640" ;;
    esac
  done
  # Nothing in the package is writable by others, and everything belongs to root.
  awk 'substr($1, 9, 1) == "w" { print }' <<<"$list" | grep . && bad "$base: world-writable files"
  awk '$2 != "root/root" { print }' <<<"$list" | grep . && bad "$base: files not owned by root"

  x="$tmp/$base"; mkdir -p "$x/ctl"
  dpkg-deb -x "$deb" "$x/root"
  dpkg-deb -e "$deb" "$x/ctl"
  grep -q '^/etc/campusgate/' "$x/ctl/conffiles" 2>/dev/null || [ "$kind" = tools ] || bad "$base: no conffiles"
  for s in "$x"/ctl/{preinst,postinst,prerm,postrm}; do
    [ -e "$s" ] || continue
    sh -n "$s" || bad "$base: $(basename "$s") does not parse"
    [ -x "$s" ] || bad "$base: $(basename "$s") not executable"
    if command -v shellcheck >/dev/null; then shellcheck -s sh "$s" || bad "$base: shellcheck $(basename "$s")"; fi
  done

  for b in "$x"/root/usr/bin/*; do
    hdr=$(readelf -h "$b")
    grep -q "Machine:.*${machine[$arch]}" <<<"$hdr" || bad "$base: $(basename "$b") is not for ${machine[$arch]}"
    readelf -l "$b" | grep -q 'INTERP' && bad "$base: $(basename "$b") is dynamically linked"
    # armhf packages are built for ARMv6 so that one package runs on every Pi (the Zero W and the Pi 1 too).
    if [ "$arch" = armhf ] && command -v go >/dev/null; then
      go version -m "$b" | grep -q 'GOARM=6' || bad "$base: $(basename "$b") is not built for ARMv6"
    fi
  done

  # The kiosk's launcher is a shell script: it must parse, and pass shellcheck where installed.
  for sh in "$x"/root/usr/lib/campusgate/*; do
    [ -f "$sh" ] || continue
    sh -n "$sh" || bad "$base: $(basename "$sh") does not parse"
    if command -v shellcheck >/dev/null; then shellcheck -s sh "$sh" || bad "$base: shellcheck $(basename "$sh")"; fi
  done

  # systemd-analyze verify wants the unit's binaries where the unit names them: point it at the extracted ones
  # (the kiosk's, in /usr/lib/campusgate, run on any architecture; the daemons' only on this machine's).
  if [ "$arch" = all ] || [ "$arch" = amd64 ]; then
    for u in "$x"/root/usr/lib/systemd/system/*.service; do
      v="$tmp/units-$base"; mkdir -p "$v"
      bin=/usr/bin/; [ "$arch" = all ] || bin=$x/root/usr/bin/  # the kiosk's setterm is the system's
      sed -e "s#/usr/bin/#$bin#g" -e "s#/usr/lib/campusgate/#$x/root/usr/lib/campusgate/#g" \
        -e "s#EnvironmentFile=-\{0,1\}/etc/#EnvironmentFile=-$x/root/etc/#" "$u" >"$v/$(basename "$u")"
      verify_unit "$base: $(basename "$u")" "$v/$(basename "$u")"
    done
  fi
done

# The gate's unit is checked with amd64 binaries too: its own are ARM, so it is pointed at the tools' gatectl.
gu=$(ls "$tmp"/campusgate-gate_*_arm64/root/usr/lib/systemd/system/gated.service 2>/dev/null | head -1 || true)
sx=$(ls -d "$tmp"/campusgate-tools_*_amd64/root 2>/dev/null | head -1 || true)
if [ -n "$gu" ] && [ -n "$sx" ]; then
  v="$tmp/units-gate"; mkdir -p "$v"
  sed -E "s#/usr/bin/gate(d|ctl) #$sx/usr/bin/gatectl #g" "$gu" >"$v/gated.service"
  verify_unit gated.service "$v/gated.service"
fi

# The chrony settings the packages ship parse (chronyd -p reads a file and exits, naming a bad line).
if command -v chronyd >/dev/null; then
  for c in "$tmp"/campusgate-{gate,server}_*_arm64/root/usr/share/campusgate/time/chrony-*.conf; do
    chronyd -p -f "$c" >/dev/null || bad "$(basename "$c"): chronyd refuses it"
  done
elif [ "${CI:-}" = true ]; then
  bad "chronyd missing (CI=true: .ci/run installs chrony)"
fi

if { [ "${CI:-}" = true ] || [ "${INSTALL:-}" = 1 ]; } && [ "$(id -u)" = 0 ]; then
  echo "== installing the amd64 tools and server packages"
  tools=$(ls "$dist"/campusgate-tools_*_amd64.deb) server=$(ls "$dist"/campusgate-server_*_amd64.deb)
  dpkg -i "$tools" "$server"
  getent passwd campusd >/dev/null || bad "install: no campusd user"
  [ "$(stat -c %a /etc/campusgate/campusd.env)" = 640 ] || bad "install: campusd.env is not 0640"
  [ "$(stat -c %G /etc/campusgate/campusd.env)" = campusd ] || bad "install: campusd.env is not group campusd"
  gatectl -h >/dev/null 2>&1 || [ $? -eq 2 ] || bad "install: gatectl does not run"
  # campusd from the installed files, as its user, on ports of its own: the console answers, then it stops cleanly.
  st=/var/lib/campusgate-server
  [ "$(stat -c %U:%a $st)" = campusd:750 ] || bad "install: $st is not campusd's alone"
  setpriv --reuid=campusd --regid=campusd --init-groups /usr/bin/campusd -state "$st" -school ci-001 \
    -http 127.0.0.1:18090 -mqtt-listen 127.0.0.1:18830 >"$tmp/campusd.log" 2>&1 &
  pid=$!
  ok=0
  for _ in $(seq 1 100); do
    if curl -fsS -o /dev/null http://127.0.0.1:18090/login 2>/dev/null; then ok=1; break; fi
    sleep 0.1
  done
  [ $ok = 1 ] || { cat "$tmp/campusd.log" >&2; bad "install: campusd's console did not answer"; }
  kill -TERM $pid 2>/dev/null || true
  wait $pid || bad "install: campusd did not stop cleanly on SIGTERM"
  grep -q 'first console account' "$tmp/campusd.log" || bad "install: campusd printed no first account"
  dpkg -r campusgate-server campusgate-tools
  [ ! -e /usr/bin/campusd ] || bad "remove: /usr/bin/campusd left behind"
  [ -e /etc/campusgate/campusd.env ] || bad "remove (not purge): the conffile is gone"
  dpkg -P campusgate-server campusgate-tools
  [ -d $st ] || bad "purge: the state in $st was deleted (admissions must stay until moved by hand)"
  rm -rf "$st"; deluser --system campusd >/dev/null 2>&1 || true
fi

[ $fail = 0 ] && echo "packages OK" || exit 1
