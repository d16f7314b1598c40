#!/bin/bash
# Builds docker/Dockerfile and tests the image from the host, behind the engine's NAT:
#   bash docker/test.sh
# Uses `docker` where `docker info` succeeds, podman otherwise (flags from shared/containers.md).
# Without an engine that can pull, it creates docker.io/library/debian:bookworm-slim by debootstrap,
# caching the root file system tarball in $SOCKS5D_CI_CACHE (default /var/cache/socks5d-ci).
# The cases run in docker/container_test.py; the last line printed is `N passed, M failed`.
# Leaves behind only the images (base and localhost/socks5d:test), as a build cache.
#
# Environment (all optional):
#   SOCKS5D_TEST_IMAGE         image tag to build and test (default localhost/socks5d:test)
#   SOCKS5D_TEST_HOST_ADDRESS  host address clients use, published on and advertised (127.0.0.1)
#   SOCKS5D_TEST_TCP_PORT      host port published for the SOCKS listener (21080)
#   SOCKS5D_TEST_BIND_RANGE    BIND port range, published 1:1 (21100-21104)
#   SOCKS5D_TEST_UDP_RANGE     UDP port range, published 1:1 (21200-21204)
set -uo pipefail

readonly repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
readonly image=${SOCKS5D_TEST_IMAGE:-localhost/socks5d:test}
readonly host_address=${SOCKS5D_TEST_HOST_ADDRESS:-127.0.0.1}
readonly tcp_port=${SOCKS5D_TEST_TCP_PORT:-21080}
readonly bind_range=${SOCKS5D_TEST_BIND_RANGE:-21100-21104}
readonly udp_range=${SOCKS5D_TEST_UDP_RANGE:-21200-21204}
readonly python=/usr/bin/python3
readonly run_id=socks5d-test-$$
readonly server=$run_id-server

passed=0
failed=0
pass() { echo "PASS $*"; passed=$((passed + 1)); }
fail() { echo "FAIL $*"; failed=$((failed + 1)); }
finish() {
  echo "$passed passed, $failed failed"
  if ((failed > 0 || passed == 0)); then exit 1; fi
  exit 0
}

# --- the engine and the base image (docker/engine.sh) ---------------------------------------------
source "$repo/docker/engine.sh"
if ! choose_engine; then
  fail "container engine available"
  finish
fi

workdir=$(mktemp -d "/tmp/$run_id.XXXXXX")
cleanup() {
  local name
  for name in $("${engine[@]}" ps -a --format '{{.Names}}' 2>/dev/null | grep -F "$run_id"); do
    "${engine[@]}" rm -f "$name" >/dev/null 2>&1
  done
  for name in $("${engine[@]}" network ls --format '{{.Name}}' 2>/dev/null | grep -F "$run_id"); do
    "${engine[@]}" network rm "$name" >/dev/null 2>&1
  done
  rm -rf "$workdir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if ensure_base_image; then
  pass "base image $base_image"
else
  fail "base image $base_image"
  finish
fi

# --- build ----------------------------------------------------------------------------------------
echo "building $image from docker/Dockerfile"
revision=$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown)
previous_image_id=$("${engine[@]}" image inspect --format '{{.Id}}' "$image" 2>/dev/null)
if "${engine[@]}" build "${build_flags[@]}" --build-arg "REVISION=$revision" -t "$image" \
  -f "$repo/docker/Dockerfile" "$repo" >"$workdir/build.log" 2>&1; then
  pass "image builds from docker/Dockerfile"
else
  tail -n 40 "$workdir/build.log"
  fail "image builds from docker/Dockerfile"
  finish
fi
# Without BuildKit each build leaves the last image and the compile stage (~430 MB) dangling.
if [[ -n $previous_image_id && $previous_image_id != $("${engine[@]}" image inspect --format '{{.Id}}' "$image") ]]; then
  "${engine[@]}" rmi "$previous_image_id" >/dev/null 2>&1
fi
"${engine[@]}" image prune -f --filter label=socks5d.stage=build >/dev/null 2>&1
echo "image size: $("${engine[@]}" image inspect --format '{{.Size}}' "$image") bytes" \
  "(base $("${engine[@]}" image inspect --format '{{.Size}}' "$base_image"))"

# --- the server container -------------------------------------------------------------------------
# Credentials: a users file mounted read-only where a compose secret would be, readable by the
# image's uid only. Never in the image.
readonly user=alice
readonly password=s3cret-$RANDOM$RANDOM
users_file=$workdir/users
printf '%s:%s\n' "$user" "$password" >"$users_file"
chown 10001:10001 "$users_file"
chmod 0400 "$users_file"

# --listen is the image's default (0.0.0.0:1080); the users file is found at the secret path. The
# BIND and UDP ranges are published 1:1 because the server announces the port it bound inside.
if ! "${engine[@]}" run -d --name "$server" "${run_flags[@]}" \
  -p "$host_address:$tcp_port:1080/tcp" \
  -p "$host_address:$bind_range:$bind_range/tcp" \
  -p "$host_address:$udp_range:$udp_range/udp" \
  -v "$users_file:/run/secrets/socks5d_users:ro" \
  "$image" \
  --advertise_address="$host_address" \
  --bind_port_range="$bind_range" \
  --udp_port_range="$udp_range" \
  --log_level=debug >"$workdir/run.log" 2>&1; then
  cat "$workdir/run.log"
  fail "server container starts"
  finish
fi

# Runs docker/container_test.py with the given flags and adds its counts. It exits 0 or 1 after
# writing them to the results file; anything else is a crash.
run_cases() {
  local results=$workdir/results.$RANDOM status py_passed py_failed
  "$python" "$repo/docker/container_test.py" \
    --engine "${engine[*]}" \
    --run-flags "${run_flags[*]}" \
    --image "$image" \
    --name-prefix "$run_id" \
    --user "$user" --password "$password" \
    --results "$results" \
    "$@"
  status=$?
  if [[ -s $results ]]; then
    read -r py_passed py_failed <"$results"
    passed=$((passed + py_passed))
    failed=$((failed + py_failed))
  fi
  if ((status != 0 && status != 1)) || [[ ! -s $results ]]; then
    fail "container_test.py $* ran to the end (exit status $status)"
  fi
}

run_cases --container "$server" \
  --proxy "$host_address:$tcp_port" \
  --advertise-address "$host_address" \
  --bind-range "$bind_range" \
  --udp-range "$udp_range"

# --- docker/compose.yaml, as a user starts it -----------------------------------------------------
# Published on and advertised as 127.0.0.2, so that nothing on 127.0.0.1:1080 is in the way. Podman
# serves the Docker API on a socket of its own for the compose client.
compose_project=$run_id
compose_file=$repo/docker/compose.yaml
if docker compose version >/dev/null 2>&1; then
  compose=(docker compose)
elif command -v docker-compose >/dev/null; then
  compose=(docker-compose)
else
  compose=()
  fail "a compose client (docker compose, or docker-compose from apt)"
fi

start_podman_service() {
  local conf=$workdir/containers.conf socket=$workdir/podman.sock deadline=$((SECONDS + 30))
  printf '[containers]\ndefault_ulimits = ["nofile=%s:%s", "nproc=%s:%s"]\n[engine]\nruntime = "runc"\n' \
    "$nofile" "$nofile" "$nproc" "$nproc" >"$conf"
  CONTAINERS_CONF=$conf podman system service --time=0 "unix://$socket" >"$workdir/service.log" 2>&1 &
  podman_service_pid=$!
  export DOCKER_HOST=unix://$socket
  until curl -sf --unix-socket "$socket" http://podman/_ping >/dev/null 2>&1; do
    if ((SECONDS > deadline)) || ! kill -0 "$podman_service_pid" 2>/dev/null; then
      cat "$workdir/service.log"
      return 1
    fi
    sleep 0.2  # polling the socket with a deadline: the service gives no other sign of readiness
  done
}

compose_down() {
  if [[ -n ${compose_started:-} ]]; then
    "${compose[@]}" -p "$compose_project" -f "$compose_file" down -t 20 >/dev/null 2>&1
  fi
  if [[ -n ${podman_service_pid:-} ]]; then
    kill "$podman_service_pid" 2>/dev/null
    wait "$podman_service_pid" 2>/dev/null
  fi
}
trap 'compose_down; cleanup' EXIT

if ((${#compose[@]} > 0)); then
  compose_env=(SOCKS5D_IMAGE="$image" SOCKS5D_ADVERTISE_ADDRESS=127.0.0.2
    SOCKS5D_PUBLISH_ADDRESS=127.0.0.2 SOCKS5D_USERS_FILE="$users_file")
  if [[ ${engine[0]} == podman ]] && ! start_podman_service; then
    fail "podman system service for the compose client"
  elif ! env "${compose_env[@]}" "${compose[@]}" -p "$compose_project" -f "$compose_file" \
    up -d --no-build >"$workdir/compose.log" 2>&1; then
    compose_started=yes
    cat "$workdir/compose.log"
    fail "docker/compose.yaml up"
  else
    compose_started=yes
    compose_container=$("${compose[@]}" -p "$compose_project" -f "$compose_file" ps -q socks5d)
    run_cases --compose --container "$compose_container" \
      --proxy 127.0.0.2:1080 \
      --advertise-address 127.0.0.2 \
      --bind-range "$(grep -o -- '--bind_port_range=[0-9-]*' "$compose_file" | cut -d= -f2)" \
      --udp-range "$(grep -o -- '--udp_port_range=[0-9-]*' "$compose_file" | cut -d= -f2)"
  fi
fi
finish
