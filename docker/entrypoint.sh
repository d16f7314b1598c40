#!/bin/sh
# Container entrypoint: every argument is a socks5d flag. Supplies the two container defaults that
# `docker run IMAGE <flags>` would otherwise lose (arguments replace CMD), then execs socks5d as PID 1
# so that it receives SIGTERM from `docker stop` directly.
set -eu

users_file=/run/secrets/socks5d_users
have_listen=no
have_users_file=no
for arg in "$@"; do
  case "$arg" in
    --listen | --listen=* | -listen | -listen=*) have_listen=yes ;;
    --users_file | --users_file=* | -users_file | -users_file=*) have_users_file=yes ;;
  esac
done

# Inside a container the loopback default (127.0.0.1:1080) cannot be reached through -p.
if [ "$have_listen" = no ]; then
  set -- --listen=0.0.0.0:1080 "$@"
fi
# A users file mounted (or given as a docker/compose secret) at the conventional path.
if [ "$have_users_file" = no ] && [ -e "$users_file" ]; then
  set -- "--users_file=$users_file" "$@"
fi

echo "socks5d-entrypoint: exec socks5d $*" >&2
exec /usr/local/bin/socks5d "$@"
