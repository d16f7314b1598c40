#!/usr/bin/env bash
# Checks formatting (clang-format) and lint (clang-tidy), builds socks5d and runs every test
# suite: unit tests (GoogleTest), the integration suite
# (pytest, real binary, real clients), the same two under AddressSanitizer+UBSan, the client
# conformance matrix across network namespaces, the Docker image test, and a benchmark smoke run.
# Expects the packages of `.ci/install-deps --test`. Exit status 0 only when every step passed.
#
#   tests/run_all.sh            everything
#   STEPS="unit integration" tests/run_all.sh   a subset (format purity unit tidy integration asan
#                                               matrix docker bench)
set -uo pipefail
cd "$(dirname "$0")/.."
root=$PWD
steps=${STEPS:-"format purity unit tidy integration asan matrix docker bench"}
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

# Whole folders of pure code (wire formats, UDP decisions) must not touch I/O: no Asio, sockets,
# logging, threads, and no reading of clocks (time points are passed in, so tests drive time).
# A new file in these folders is checked without being listed here.
pure_folders=(protocol udp)
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
  out=$(sources 'protocol/*.cc' 'udp/*.cc' 'dns/*.cc' 'net/*.cc' 'relay/*.cc' 'session/*.cc' 'server/*.cc' |
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
    --ignore=integration/matrix --ignore=integration/bench -p no:cacheprovider
}

asan() {
  build build-asan -DCMAKE_BUILD_TYPE=Debug -DSOCKS5D_SANITIZE=ON || return 1
  export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
  ctest --test-dir build-asan --output-on-failure -j "$jobs" || return 1
  SOCKS5D_BIN=$root/build-asan/socks5d SOCKS5D_SANITIZED=1 $py -m pytest integration -q \
    --ignore=integration/matrix --ignore=integration/bench -p no:cacheprovider
}

matrix() { SOCKS5D_BIN=$root/build-release/socks5d $py integration/matrix/run.py; }
docker_image() { bash docker/test.sh; }
bench() {
  build-release/tests/bench/protocol_bench --benchmark_min_time=0.01 &&
    build-release/tests/bench/udp_bench --benchmark_min_time=0.01 &&
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
    matrix) run_step matrix matrix ;;
    docker) run_step docker docker_image ;;
    bench) run_step bench bench ;;
    *) echo "unknown step $step"; failed+=("$step") ;;
  esac
done

echo
echo "passed steps: ${passed[*]:-none}"
echo "failed steps: ${failed[*]:-none}"
echo "steps: ${#passed[@]} passed, ${#failed[@]} failed"
((${#failed[@]} == 0))
