#!/bin/sh
# Runs every unit test binary of a build under valgrind memcheck and fails
# on any memory error or definite/indirect leak. Use a plain build without
# sanitizers (valgrind and ASan do not mix), e.g.
#
#   cmake -S . -B build-vg -DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_FLAGS="-O1 -g" \
#         -DWSPROTO_BUILD_EXAMPLES=OFF && cmake --build build-vg
#   tests/valgrind.sh build-vg
set -eu

BUILD_DIR=${1:?usage: tests/valgrind.sh BUILD_DIR}
command -v valgrind >/dev/null || { echo "valgrind not installed" >&2; exit 2; }
tests=$(find "$BUILD_DIR/tests" -maxdepth 1 -type f -name 'test_*' -perm -u+x | sort)
[ -n "$tests" ] || { echo "no test binaries in $BUILD_DIR/tests" >&2; exit 2; }

status=0
for t in $tests; do
    name=$(basename "$t")
    log="$BUILD_DIR/valgrind-$name.log"
    if valgrind --error-exitcode=1 --leak-check=full \
        --errors-for-leak-kinds=definite,indirect --track-origins=yes \
        --log-file="$log" "$t" >/dev/null 2>&1; then
        echo "$name: clean"
    else
        echo "$name: FAILED (see $log)" >&2
        status=1
    fi
done
exit $status
