#!/bin/sh
# Builds the libFuzzer targets with clang and runs each for SECONDS (default
# 60) on a copy of its seed corpus, so the checked-in corpus only changes on
# purpose. Exits non-zero if any target crashes, leaks or breaks an
# invariant; crash inputs are left in the work directory.
#
#   tests/fuzz/run-fuzzers.sh [SECONDS]
#
# Environment: BUILD_DIR (default: a fresh temporary directory), WORK_DIR
# (corpus copies and artifacts; default: inside BUILD_DIR), JOBS (targets run
# at once, default 1), TARGETS (space-separated subset), CC (default clang),
# SEED (libFuzzer's -seed: a fixed seed makes a run repeatable; default
# random).
set -eu

SECONDS_EACH=${1:-60}
HERE=$(cd "$(dirname "$0")" && pwd)
SRC=$(cd "$HERE/../.." && pwd)
BUILD_DIR=${BUILD_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/wsproto-fuzz.XXXXXX")}
WORK_DIR=${WORK_DIR:-$BUILD_DIR/fuzz-work}
JOBS=${JOBS:-1}
SEED_ARG=${SEED:+-seed=$SEED}
TARGETS=${TARGETS:-"fuzz_http_request fuzz_http_response fuzz_server_frames fuzz_client_frames fuzz_utf8 fuzz_roundtrip fuzz_deflate"}

CC=${CC:-clang} cmake -S "$SRC" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DWSPROTO_BUILD_FUZZ=ON -DWSPROTO_BUILD_TESTS=OFF \
    -DWSPROTO_BUILD_EXAMPLES=OFF >/dev/null
cmake --build "$BUILD_DIR" -j "$JOBS" >/dev/null

dict_for() {
    case "$1" in
    fuzz_http_*) echo "$HERE/fuzz_http.dict" ;;
    fuzz_utf8) echo "$HERE/fuzz_utf8.dict" ;;
    *) echo "$HERE/fuzz_frames.dict" ;;
    esac
}

run_one() {
    t=$1
    bin="$BUILD_DIR/tests/fuzz/$t"
    if [ ! -x "$bin" ]; then
        echo "$t: no libFuzzer binary (is the compiler clang?)" >&2
        return 1
    fi
    mkdir -p "$WORK_DIR/$t/corpus" "$WORK_DIR/$t/artifacts"
    cp "$HERE/corpus/$t/"* "$WORK_DIR/$t/corpus/" 2>/dev/null || true
    # shellcheck disable=SC2086 # SEED_ARG is empty or one word
    if "$bin" -max_total_time="$SECONDS_EACH" -timeout=10 -rss_limit_mb=2048 $SEED_ARG \
        -print_final_stats=1 -dict="$(dict_for "$t")" \
        -artifact_prefix="$WORK_DIR/$t/artifacts/" \
        "$WORK_DIR/$t/corpus" >"$WORK_DIR/$t/log" 2>&1; then
        echo "$t: ok ($(grep -o 'cov: [0-9]*' "$WORK_DIR/$t/log" | tail -1)," \
            "$(grep 'stat::number_of_executed_units' "$WORK_DIR/$t/log" |
                awk '{print $2}') runs)"
    else
        echo "$t: FAILED, see $WORK_DIR/$t/log and $WORK_DIR/$t/artifacts/" >&2
        # The invariant and the input (libFuzzer prints it in base64), so a
        # failure elsewhere can be replayed from its output alone.
        grep -E 'invariant violated|ERROR:|^SUMMARY|^Base64' "$WORK_DIR/$t/log" >&2 || true
        return 1
    fi
}

status=0
running=0
pids=""
for t in $TARGETS; do
    run_one "$t" &
    pids="$pids $!"
    running=$((running + 1))
    if [ "$running" -ge "$JOBS" ]; then
        for p in $pids; do wait "$p" || status=1; done
        pids=""
        running=0
    fi
done
for p in $pids; do wait "$p" || status=1; done
echo "work directory: $WORK_DIR"
exit $status
