#!/usr/bin/env bash
# The whole test suite, as a new user (and CI) runs it on a fresh Debian
# machine: installs what the tests need, then builds and tests with gcc and
# clang (warnings are errors), and again under AddressSanitizer + UBSan.
#
#   bash tests/run-all.sh            everything
#   WSP_SKIP_INSTALL=1 bash ...      do not touch system packages
#   WSP_FUZZ_SECONDS=N bash ...      seconds per fuzz target (default 30, 0: replay only)
#   WSP_FUZZ_SEED=N bash ...         libFuzzer seed (default 1, so a run repeats;
#                                    empty: random). Long random runs: tests/fuzz/
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
builds=${WSP_BUILD_ROOT:-$root/build-tests}
jobs=$(nproc 2>/dev/null || echo 2)
fuzz_seconds=${WSP_FUZZ_SECONDS:-30}
fuzz_seed=${WSP_FUZZ_SEED-1}

. tests/support/debian-packages.sh

install_deps() {
    # llvm: llvm-symbolizer, so sanitizer and fuzzer reports name source lines.
    # libssl-dev and openssl: the TLS examples and their test certificates.
    # libnghttp2-dev: the HTTP/2 (RFC 8441) example server.
    local pkgs=(build-essential cmake pkg-config clang libclang-rt-dev llvm libcmocka-dev
                valgrind gcovr zlib1g-dev doxygen libssl-dev openssl libnghttp2-dev)
    install_debian_packages "${pkgs[@]}" || return 1
    if [ -f tests/interop/install-deps.sh ]; then
        bash tests/interop/install-deps.sh || return 1
    fi
}

passed=0
failed=0
failures=()
timings=()
suite_start=$SECONDS

# run NAME CMD...: one step of the suite; a failing step is recorded and the
# suite goes on, so one run shows every failure. Each step ends with one
# line giving its result and time, and the summary repeats them.
run() {
    local name=$1 start=$SECONDS result
    shift
    echo
    echo "== $name"
    if "$@"; then
        passed=$((passed + 1))
        result=ok
    else
        failed=$((failed + 1))
        failures+=("$name")
        result=FAILED
    fi
    local line
    line=$(printf '%-6s %4d s  %s' "$result" $((SECONDS - start)) "$name")
    timings+=("$line")
    echo "-- $line"
}

summary() {
    echo
    echo "== summary"
    printf '%s\n' "${timings[@]}"
    echo "total: $((SECONDS - suite_start)) s"
    if [ ${#failures[@]} -gt 0 ]; then
        printf 'failed step: %s\n' "${failures[@]}"
    fi
    echo "run-all: $passed passed, $failed failed"
}

configure_build() {
    local dir=$1
    shift
    cmake -S "$root" -B "$dir" -DWSPROTO_WERROR=ON "$@" >/dev/null &&
        cmake --build "$dir" -j "$jobs"
}

ctest_in() {
    local dir=$1
    shift
    ctest --test-dir "$dir" --output-on-failure -j "$jobs" "$@"
}

# Installing is not a test step, but nothing can run without it: its time
# is reported like a step's, and a failure ends the suite at once.
if [ "${WSP_SKIP_INSTALL:-0}" != 1 ]; then
    echo "== install test dependencies (Debian packages)"
    install_start=$SECONDS
    if install_deps; then
        timings+=("$(printf '%-6s %4d s  %s' ok $((SECONDS - install_start)) "install (set-up)")")
    else
        timings+=("$(printf '%-6s %4d s  %s' FAILED $((SECONDS - install_start)) "install (set-up)")")
        failed=1
        failures+=("install (set-up)")
        summary
        exit 1
    fi
    echo "-- ${timings[0]}"
fi

run "gcc build (-Werror)" configure_build "$builds/gcc" \
    -DCMAKE_C_COMPILER=gcc -DCMAKE_BUILD_TYPE=RelWithDebInfo -DWSPROTO_BUILD_FUZZ=ON
run "gcc: unit, interop and corpus replay tests" ctest_in "$builds/gcc"

run "clang build (-Werror)" configure_build "$builds/clang" \
    -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo -DWSPROTO_BUILD_FUZZ=ON
run "clang: unit tests and corpus replay" ctest_in "$builds/clang" -LE interop

run "ASan+UBSan build (-Werror)" configure_build "$builds/asan" \
    -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=Debug -DWSPROTO_SANITIZE=ON -DWSPROTO_BUILD_FUZZ=ON
run "ASan+UBSan: unit, interop and corpus replay tests" ctest_in "$builds/asan"

run "portable: byte-order checks under qemu-user, Cortex-M4 build, code sizes" bash tests/portable/run.sh
run "unit tests on aarch64 and s390x (big-endian) under qemu-user" bash tests/portable/unit-tests-qemu.sh

valgrind_unit() {
    cmake -S "$root" -B "$builds/valgrind" -DCMAKE_C_COMPILER=gcc -DCMAKE_BUILD_TYPE=Debug \
        -DCMAKE_C_FLAGS="-O1 -g" -DWSPROTO_BUILD_EXAMPLES=OFF >/dev/null &&
        cmake --build "$builds/valgrind" -j "$jobs" >/dev/null &&
        bash tests/valgrind.sh "$builds/valgrind"
}
run "valgrind memcheck: unit tests" valgrind_unit
run "coverage of src/ (gcovr, lines and decision branches)" bash tests/coverage.sh "$builds/coverage"

if [ -f tests/fuzz/run-fuzzers.sh ] && [ "$fuzz_seconds" -gt 0 ]; then
    run "libFuzzer, ${fuzz_seconds}s per target" \
        env JOBS="$jobs" BUILD_DIR="$builds/fuzz" SEED="$fuzz_seed" \
        bash tests/fuzz/run-fuzzers.sh "$fuzz_seconds"
fi

summary
[ "$failed" -eq 0 ]
