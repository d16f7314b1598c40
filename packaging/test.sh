#!/bin/bash
# Builds the .deb (cpack -G DEB in build-release), runs lintian (no E: allowed) and man --warnings,
# unpacks it and runs the packaged binary's --version (it must print the version of CMakeLists.txt's project()).
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
version=$(sed -n "s/^project(socks5d VERSION \([0-9.]*\).*/\1/p" "$repo/CMakeLists.txt")
"$dir/usr/bin/socks5d" --version | grep -qx "socks5d $version" && echo "PASS $deb"
