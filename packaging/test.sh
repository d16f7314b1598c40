#!/bin/bash
# Builds the .deb (cpack -G DEB in build-release), runs lintian (no E: allowed) and man --warnings,
# unpacks it and runs the packaged binary's --version. NOT YET: apt-get install in a podman bookworm
# container + a CONNECT through the installed server (see the package helper's report).
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
dir=$(mktemp -d); trap 'rm -rf "$dir"' EXIT
dpkg-deb -x "$deb" "$dir"
"$dir/usr/bin/socks5d" --version | grep -qx "socks5d 1.1.0" && echo "PASS $deb"
