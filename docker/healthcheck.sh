#!/bin/bash
# HEALTHCHECK probe: a real SOCKS5 method negotiation (RFC 1928 s.3) with the server in this container.
# Offers "no authentication" and "username/password" (05 02 00 02) and expects 05 00, 05 02 or 05 FF:
# any of these means the server accepted the connection and answered in SOCKS5. Uses bash's /dev/tcp
# and coreutils only, so the image needs no extra package.
# Address: $SOCKS5D_HEALTHCHECK_ADDRESS (HOST:PORT) if set, else the first --listen address of PID 1
# (0.0.0.0 and :: are probed on loopback), else 127.0.0.1:1080.
set -euo pipefail

address=${SOCKS5D_HEALTHCHECK_ADDRESS:-}
if [[ -z $address ]]; then
  address=127.0.0.1:1080
  while IFS= read -r -d '' arg; do
    if [[ $arg == --listen=* || $arg == -listen=* ]]; then
      address=${arg#*=}
      address=${address%%,*}
    fi
  done </proc/1/cmdline
fi
host=${address%:*}
port=${address##*:}
host=${host#[}
host=${host%]}
case $host in
  0.0.0.0 | '') host=127.0.0.1 ;;
  :: | '::0') host=::1 ;;
esac

if ! exec 3<>"/dev/tcp/$host/$port"; then
  echo "socks5d-healthcheck: cannot connect to $host:$port" >&2
  exit 1
fi
printf '\x05\x02\x00\x02' >&3
# `|| true`: a timeout is reported below as "no answer", not by set -e without a word.
reply=$(timeout 3 head -c 2 <&3 | od -An -tx1 | tr -d ' \n') || true
exec 3>&-
case $reply in
  0500 | 0502 | 05ff) exit 0 ;;
  '') echo "socks5d-healthcheck: no answer from $host:$port within 3s" >&2 ;;
  *) echo "socks5d-healthcheck: $host:$port answered '$reply' to a SOCKS5 greeting" >&2 ;;
esac
exit 1
