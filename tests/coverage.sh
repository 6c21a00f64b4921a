#!/bin/sh
# Line and branch coverage of src/ by the whole ctest suite (unit tests,
# fuzz corpus replay, and the interop, conformance and security tests where
# their tools are installed), from a gcc --coverage build at -O0.
#
#   tests/coverage.sh BUILD_DIR
#
# Branch figures count only "decision" branches: --exclude-unreachable-branches
# drops branches gcc adds that no source line can take, and
# --exclude-throw-branches those of exception paths (none in C, but harmless).
# Both are about how the compiler lowers code, not about tests. gcov can
# print "taken -1" for a branch whose counter several processes updated at
# once (the replay binaries share objects); such lines are skipped.
# Environment: JOBS (parallel ctest jobs, default nproc).
set -eu

BUILD_DIR=${1:?usage: tests/coverage.sh BUILD_DIR}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
JOBS=${JOBS:-$(nproc 2>/dev/null || echo 2)}
command -v gcovr >/dev/null || { echo "gcovr not installed" >&2; exit 2; }

cmake -S "$ROOT" -B "$BUILD_DIR" -DCMAKE_C_COMPILER=gcc -DCMAKE_BUILD_TYPE=Debug \
    -DCMAKE_C_FLAGS="--coverage -O0 -g" \
    -DCMAKE_EXE_LINKER_FLAGS=--coverage -DCMAKE_SHARED_LINKER_FLAGS=--coverage \
    -DWSPROTO_BUILD_FUZZ=ON -DWSPROTO_FUZZ_SANITIZE=OFF \
    -DWSPROTO_BUILD_EXAMPLES=ON >/dev/null
cmake --build "$BUILD_DIR" -j "$JOBS" >/dev/null
find "$BUILD_DIR" -name '*.gcda' -delete
# The packaging tests build consumers against the installed library, which
# would need gcov's runtime too; they say nothing about src/ coverage. A
# failing test fails the run, after the figures are printed.
status=0
ctest --test-dir "$BUILD_DIR" -j "$JOBS" --output-on-failure -LE packaging || status=1
cd "$ROOT"
# The amalgamation's objects (tests/packaging) hold src/ again under #line
# directives: gcov cannot resolve them, and they would count src/ twice.
gcovr --root . --filter src/ --object-directory "$BUILD_DIR" \
    --exclude-unreachable-branches --exclude-throw-branches \
    --gcov-ignore-parse-errors --exclude-directories '.*/tests/packaging/.*' \
    --print-summary --txt "$BUILD_DIR/coverage.txt" "$BUILD_DIR"
echo "per-file report: $BUILD_DIR/coverage.txt"
if [ "$status" -ne 0 ]; then
    echo "coverage: some tests failed" >&2
fi
exit "$status"
