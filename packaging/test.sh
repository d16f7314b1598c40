#!/bin/bash
# The Debian package, tested as an operator uses it:
#   1. cpack -G DEB in build-release; lintian (no E: allowed); man --warnings on socks5d.8; the
#      packaged binary's --version prints the version of CMakeLists.txt's project();
#   2. in a clean bookworm container (docker/engine.sh: docker, or podman as shared/containers.md
#      says), `apt-get install ./socks5d_*.deb` pulls the dependencies dpkg-shlibdeps found, and the
#      installed server, started from the installed /etc/socks5d/socks5d.conf, serves a CONNECT
#      (curl on the host through it, to a host HTTP server; the container shares the host's
#      network so both stay on loopback; only --listen's port is changed, 1080 may be taken).
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo/build-release"
rm -f socks5d_*.deb
cpack -G DEB >/dev/null
deb=$(ls socks5d_*.deb)
lint=$(lintian "$deb" 2>&1 | grep -v 'root privileges' || true)
echo "$lint"
if grep -q '^E:' <<<"$lint"; then echo "FAIL lintian errors"; exit 1; fi
man --warnings -l "$repo/packaging/socks5d.8" >/dev/null
workdir=$(mktemp -d)
run_id=socks5d-package-$$
http_pid=
cleanup() {
  [[ -n $http_pid ]] && kill "$http_pid" 2>/dev/null
  [[ -n ${engine[*]:-} ]] && "${engine[@]}" rm -f "$run_id" >/dev/null 2>&1
  rm -rf "$workdir"
}
trap cleanup EXIT
dpkg-deb -x "$deb" "$workdir/root"
version=$(sed -n "s/^project(socks5d VERSION \([0-9.]*\).*/\1/p" "$repo/CMakeLists.txt")
"$workdir/root/usr/bin/socks5d" --version | grep -qx "socks5d $version"
echo "PASS $deb: lintian, man page, --version $version"

# What an operator edits is a conffile (kept on upgrade), and the defaults are safe: loopback only.
conffiles=$(dpkg-deb --ctrl-tarfile "$deb" | tar -xO ./conffiles)
for f in /etc/socks5d/socks5d.conf /etc/socks5d/rules; do
  grep -qx "$f" <<<"$conffiles" || { echo "FAIL $f is not a conffile: $conffiles"; exit 1; }
done
grep -qx -- '--listen=127.0.0.1:1080' "$workdir/root/etc/socks5d/socks5d.conf" ||
  { echo "FAIL the default --listen is not 127.0.0.1:1080"; exit 1; }
for unit in socks5d.service socks5d.socket; do
  [[ -f $workdir/root/lib/systemd/system/$unit ]] || { echo "FAIL $unit not packaged"; exit 1; }
done
echo "PASS conffiles, loopback default, units"

# --- installed in a clean container -------------------------------------------------------------
source "$repo/docker/engine.sh"
choose_engine
ensure_base_image
free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
proxy_port=$(free_port)
mkdir "$workdir/www"
echo "served through the packaged socks5d $RANDOM" >"$workdir/www/index.html"
http_port=$(free_port)
/usr/bin/python3 -m http.server --bind 127.0.0.1 --directory "$workdir/www" "$http_port" \
  >/dev/null 2>&1 &
http_pid=$!
cp "$deb" "$workdir/"
"${engine[@]}" run -d --name "$run_id" --network=host "${run_flags[@]}" -v "$workdir:/deb:ro" \
  "$base_image" bash -c "set -e
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends /deb/$deb >/dev/null
    echo installed: \$(socks5d --version)
    exec socks5d --flagfile=/etc/socks5d/socks5d.conf --listen=127.0.0.1:$proxy_port" >/dev/null
for _ in $(seq 240); do
  "${engine[@]}" logs "$run_id" 2>&1 | grep -q "listening on 127.0.0.1:$proxy_port" && break
  [[ $("${engine[@]}" inspect -f '{{.State.Running}}' "$run_id") == true ]] || break
  sleep 0.5
done
if ! "${engine[@]}" logs "$run_id" 2>&1 | grep -q "installed: socks5d $version"; then
  "${engine[@]}" logs "$run_id" 2>&1 | tail -20
  echo "FAIL apt-get install ./$deb in $base_image"
  exit 1
fi
body=$(curl -sS --max-time 10 --socks5-hostname "127.0.0.1:$proxy_port" \
  "http://127.0.0.1:$http_port/index.html")
if [[ $body != "$(cat "$workdir/www/index.html")" ]]; then
  "${engine[@]}" logs "$run_id" 2>&1 | tail -20
  echo "FAIL CONNECT through the installed socks5d: got '$body'"
  exit 1
fi
for _ in $(seq 20); do
  "${engine[@]}" logs "$run_id" 2>&1 | grep -q "access .*cmd=CONNECT target=127.0.0.1:$http_port reply=00" && break
  sleep 0.5
done
"${engine[@]}" logs "$run_id" 2>&1 | grep "access .*cmd=CONNECT target=127.0.0.1:$http_port reply=00" ||
  { echo "FAIL no access line"; exit 1; }
echo "PASS apt-get install ./$deb in $base_image; the installed server serves a CONNECT"
