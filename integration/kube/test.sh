#!/bin/bash
# The Kubernetes manifests, tested without a cluster:
#   bash integration/kube/test.sh
# 1. `kubectl kustomize deploy/kubernetes` renders, and schema_check.py validates every object
#    against the API schema of python3-kubernetes' models (`kubectl create --dry-run=client`, with
#    or without --validate=false, needs an API server here: it fails on discovery).
# 2. podman kube play runs the rendered manifests (made podman-compatible by variant.py, whose
#    docstring lists each difference) with the image, and kube_test.py checks CONNECT, the
#    Secret's credentials, probes, a live ConfigMap change, replays, draining and kube down.
# The image: $SOCKS5D_KUBE_IMAGE (default localhost/socks5d:test, what `bash docker/test.sh`
# builds); built from docker/Dockerfile only when it is missing or lacks the flags the manifests
# use (--watch_config, --metrics_listen). The last line printed is `N passed, M failed`.
set -uo pipefail

readonly repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
readonly image=${SOCKS5D_KUBE_IMAGE:-localhost/socks5d:test}

for tool in kubectl podman curl catatonit; do
  if ! command -v "$tool" >/dev/null; then
    echo "$tool missing (apt-get install $(grep -v '^#' "$repo/.ci/apt/kube.txt" | tr '\n' ' '))" >&2
    echo "0 passed, 1 failed"
    exit 1
  fi
done

rendered=$(mktemp /tmp/socks5d-kube-rendered.XXXXXX)
workdir=$(mktemp -d /tmp/socks5d-kube-build.XXXXXX)
trap 'rm -rf "$rendered" "$workdir"' EXIT

passed=0
failed=0
if kubectl kustomize "$repo/deploy/kubernetes" >"$rendered"; then
  echo "PASS kubectl kustomize deploy/kubernetes ($(grep -c '^kind:' "$rendered") objects)"
  passed=$((passed + 1))
else
  echo "FAIL kubectl kustomize deploy/kubernetes"
  echo "$passed passed, 1 failed"
  exit 1
fi
if out=$(/usr/bin/python3 "$repo/integration/kube/schema_check.py" <"$rendered" 2>&1); then
  echo "PASS schema: $(echo "$out" | tr '\n' ';')"
  passed=$((passed + 1))
else
  echo "FAIL schema: $out"
  failed=$((failed + 1))
fi

# The image, as docker/test.sh would build it (docker/engine.sh: podman flags, base image).
source "$repo/docker/engine.sh"
choose_engine >/dev/null || exit 1
if [[ ${engine[0]} != podman ]]; then  # kube play is podman's: its flags from engine.sh
  engine=(podman)
  build_flags=(--isolation=chroot --pull=never --format=docker)
  run_flags=(--runtime /usr/sbin/runc --ulimit nofile=1024:1024 --ulimit nproc=1024:1024)
fi
has_flags() {
  local help
  help=$(podman run --rm "${run_flags[@]}" --entrypoint /usr/local/bin/socks5d "$image" --helpfull 2>/dev/null)
  grep -q -e '--watch_config' <<<"$help" && grep -q -e '--metrics_listen' <<<"$help"
}
if podman image inspect "$image" >/dev/null 2>&1 && has_flags; then
  echo "image $image present (revision $(podman image inspect --format '{{index .Labels "org.opencontainers.image.revision"}}' "$image"))"
else
  echo "building $image from docker/Dockerfile (missing, or without --watch_config/--metrics_listen)"
  ensure_base_image || { echo "FAIL base image"; echo "$passed passed, $((failed + 1)) failed"; exit 1; }
  if ! podman build "${build_flags[@]}" --build-arg "REVISION=$(git -C "$repo" rev-parse --short HEAD)" \
    -t "$image" -f "$repo/docker/Dockerfile" "$repo" >"$workdir/build.log" 2>&1; then
    tail -n 30 "$workdir/build.log"
    echo "FAIL image build"
    echo "$passed passed, $((failed + 1)) failed"
    exit 1
  fi
fi

SOCKS5D_KUBE_IMAGE=$image /usr/bin/python3 "$repo/integration/kube/kube_test.py" | tee "$workdir/result"
status=${PIPESTATUS[0]}
read -r p _ f _ < <(tail -n 1 "$workdir/result")
echo "$((passed + p)) passed, $((failed + f)) failed (kube)"
((status == 0 && failed == 0)) || exit 1
