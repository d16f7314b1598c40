#!/usr/bin/env bash
# Checks formatting (clang-format) and lint (clang-tidy), builds socks5d and runs every test
# suite: unit tests (GoogleTest), the integration suite
# (pytest, real binary, real clients), the same two under AddressSanitizer+UBSan, the client
# conformance matrix across network namespaces, the Docker image test, a benchmark smoke run,
# the Debian package (cpack, lintian, man --warnings, installed in a clean container), HAProxy in
# front of three instances in a topology of network namespaces, and the Kubernetes manifests
# (kustomize, schema check, podman kube play: CONNECT, credentials, reloads).
# Expects the packages of `.ci/install-deps --test`. Exit status 0 only when every step passed.
#
#   tests/run_all.sh            everything
#   STEPS="unit integration" tests/run_all.sh   a subset (format purity unit tidy integration asan
#                                               tsan fuzz matrix docker soak bench package
#                                               topology kube)
#   FUZZ_RUNS=N (fuzz: executions per target), SOAK_SECONDS=N (soak: duration)
set -uo pipefail
cd "$(dirname "$0")/.."
root=$PWD
steps=${STEPS:-"format purity unit tidy integration asan tsan fuzz matrix docker soak bench package topology kube"}
py=/usr/bin/python3  # Debian's Python: the test packages come from Debian, not PyPI
jobs=$(nproc)
passed=()
failed=()

run_step() {
  local name=$1
  shift
  echo
  echo "=== ${name} ==="
  local start=$SECONDS
  if "$@"; then
    passed+=("$name")
    echo "=== ${name}: passed in $((SECONDS - start))s ==="
  else
    failed+=("$name")
    echo "=== ${name}: FAILED after $((SECONDS - start))s ==="
  fi
}

build() {  # build DIR [cmake args...]
  local dir=$1
  shift
  cmake -S "$root" -B "$dir" -G Ninja "$@" >/dev/null && cmake --build "$dir" -j "$jobs"
}

# The project's C++ sources (not build trees).
sources() { git ls-files -co --exclude-standard "$@" | grep -vE '^build'; }

# Every .h/.cc must be formatted as the repository's .clang-format says.
format() {
  sources '*.h' '*.cc' | xargs clang-format --dry-run --Werror
}

# Whole folders of pure code (wire formats, UDP decisions, metrics) must not touch I/O: no Asio, sockets,
# logging, threads, and no reading of clocks (time points are passed in, so tests drive time).
# A new file in these folders is checked without being listed here.
pure_folders=(protocol udp policy metrics)
purity() {
  local bad
  bad=$(sources "${pure_folders[@]/%//*.h}" "${pure_folders[@]/%//*.cc}" |
        xargs grep -nE '#include *[<"](asio|sys/socket|netinet|thread|iostream)|net/log|::now\(|absl::Now\(' ||
        true)
  if [[ -n "$bad" ]]; then
    echo "pure code includes I/O headers:"
    echo "$bad"
    return 1
  fi
  echo "${pure_folders[*]}: no I/O headers"
}

# clang-tidy with the repository's .clang-tidy over the libraries' and the binary's .cc files
# (not the tests: they would double the time), using the unit step's compile_commands.json.
# Clang needs to be told that GCC's libstdc++ has coroutines for Asio to enable them.
tidy() {
  [[ -f build-release/compile_commands.json ]] || build build-release -DCMAKE_BUILD_TYPE=RelWithDebInfo || return 1
  local out
  out=$(sources 'protocol/*.cc' 'udp/*.cc' 'policy/*.cc' 'metrics/*.cc' 'dns/*.cc' 'net/*.cc' 'relay/*.cc' 'session/*.cc' 'server/*.cc' |
        xargs -P "$jobs" -n 1 clang-tidy -p build-release --quiet \
          --extra-arg=-DASIO_HAS_CO_AWAIT=1 --extra-arg=-DASIO_HAS_STD_COROUTINE=1 2>&1)
  local status=$?
  grep -E 'warning:|error:' <<<"$out"
  return $status
}

unit() {
  build build-release -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSOCKS5D_BENCHMARKS=ON &&
    ctest --test-dir build-release --output-on-failure -j "$jobs"
}

integration() {
  SOCKS5D_BIN=$root/build-release/socks5d $py -m pytest integration -q \
    --ignore=integration/matrix --ignore=integration/bench --ignore=integration/topology \
    --ignore=integration/kube \
    -p no:cacheprovider
}

asan() {
  build build-asan -DCMAKE_BUILD_TYPE=Debug -DSOCKS5D_SANITIZE=ON || return 1
  export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
  ctest --test-dir build-asan --output-on-failure -j "$jobs" || return 1
  SOCKS5D_BIN=$root/build-asan/socks5d SOCKS5D_SANITIZED=1 $py -m pytest integration -q \
    --ignore=integration/matrix --ignore=integration/bench --ignore=integration/topology \
    --ignore=integration/kube \
    -p no:cacheprovider
}

# ThreadSanitizer: the unit tests, then the integration tests that run sessions of every command
# side by side on a --workers=2 server (SOCKS5D_EXTRA_ARGS is appended to every server's flags),
# and SIGHUP reloads while sessions start and relay on both workers (test_reload.py).
tsan() {
  build build-tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSOCKS5D_TSAN=ON || return 1
  export TSAN_OPTIONS="halt_on_error=1 abort_on_error=1 second_deadlock_stack=1"
  ctest --test-dir build-tsan --output-on-failure -j "$jobs" || return 1
  SOCKS5D_BIN=$root/build-tsan/socks5d SOCKS5D_SANITIZED=1 SOCKS5D_EXTRA_ARGS=--workers=2 \
    $py -m pytest -q -p no:cacheprovider integration/test_concurrency.py integration/test_relay.py \
    integration/test_bind.py integration/test_udp.py integration/test_reload.py
}

# libFuzzer: every target in tests/fuzz runs FUZZ_RUNS executions from a copy of its corpus (so
# the tree stays as it is); a finding fails the step and is written to tests/fuzz/corpus/TARGET/
# (crash-*, leak-*, timeout-*), ready to be committed with the fix. -max_len=1024: the longest
# protocol message is 262 bytes, a users-file line 511, a flag value a few dozen, a rules file a
# dozen rules; the sequence targets need a dozen datagrams.
fuzz() {
  local runs=${FUZZ_RUNS:-400000} target name work rc=0
  cmake -S "$root" -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_CXX_COMPILER=clang++-14 -DSOCKS5D_FUZZ=ON -DSOCKS5D_TESTS=OFF >/dev/null &&
    cmake --build build-fuzz -j "$jobs" --target fuzzers || return 1
  for target in tests/fuzz/*_fuzz.cc; do
    name=$(basename "$target" _fuzz.cc)
    work=$(mktemp -d)
    cp -r "tests/fuzz/corpus/$name/." "$work/"
    if build-fuzz/tests/fuzz/${name}_fuzz -runs="$runs" -max_len=1024 -timeout=10 \
        -print_final_stats=1 -artifact_prefix="$root/tests/fuzz/corpus/$name/" "$work" \
        >"$work.log" 2>&1; then
      echo "fuzz ${name}: $(grep -oP 'stat::number_of_executed_units: *\K[0-9]+' "$work.log") executions," \
        "$(grep -oP 'stat::average_exec_per_sec: *\K[0-9]+' "$work.log")/s, corpus" \
        "$(ls "tests/fuzz/corpus/$name" | wc -l) seeds -> $(ls "$work" | wc -l)"
    else
      echo "fuzz ${name}: FINDING (input saved in tests/fuzz/corpus/$name/):"
      tail -n 60 "$work.log"
      rc=1
    fi
    rm -rf "$work" "$work.log"
  done
  return $rc
}

# A bounded churn of every command with misbehaving clients against the release binary; fails
# when RSS or descriptors keep growing after warm-up, or a counted transfer loses a byte.
soak() {
  build build-release -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSOCKS5D_BENCHMARKS=ON || return 1
  $py integration/soak/soak.py --binary "$root/build-release/socks5d" --seconds "${SOAK_SECONDS:-150}"
}

matrix() { SOCKS5D_BIN=$root/build-release/socks5d $py integration/matrix/run.py; }
# HAProxy (send-proxy-v2) in front of three instances, each in its own network namespace.
topology() {
  SOCKS5D_BIN=$root/build-release/socks5d $py -m pytest integration/topology -q -p no:cacheprovider
}
docker_image() { bash docker/test.sh; }
# The .deb from the release tree (unit builds it): lintian without errors, the man page, --version.
package() {
  [[ -x build-release/socks5d ]] || build build-release -DCMAKE_BUILD_TYPE=RelWithDebInfo || return 1
  bash packaging/test.sh
}
# The manifests in deploy/kubernetes under podman kube play, with the image the docker step built.
kube() { bash integration/kube/test.sh; }
bench() {
  build-release/tests/bench/protocol_bench --benchmark_min_time=0.01 &&
    build-release/tests/bench/udp_bench --benchmark_min_time=0.01 &&
    build-release/tests/bench/rules_bench --benchmark_min_time=0.01 &&
    SOCKS5D_BIN=$root/build-release/socks5d $py integration/bench/run.py --quick
}

for step in $steps; do
  case $step in
    format) run_step format format ;;
    purity) run_step purity purity ;;
    tidy) run_step tidy tidy ;;
    unit) run_step unit unit ;;
    integration) run_step integration integration ;;
    asan) run_step asan asan ;;
    tsan) run_step tsan tsan ;;
    fuzz) run_step fuzz fuzz ;;
    soak) run_step soak soak ;;
    matrix) run_step matrix matrix ;;
    docker) run_step docker docker_image ;;
    bench) run_step bench bench ;;
    package) run_step package package ;;
    topology) run_step topology topology ;;
    kube) run_step kube kube ;;
    *) echo "unknown step $step"; failed+=("$step") ;;
  esac
done

echo
echo "passed steps: ${passed[*]:-none}"
echo "failed steps: ${failed[*]:-none}"
echo "steps: ${#passed[@]} passed, ${#failed[@]} failed"
((${#failed[@]} == 0))
