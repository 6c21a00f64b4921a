#!/usr/bin/env bash
# Regenerates the figures in docs/benchmarks.md: builds at -O2 in a
# temporary directory, runs the microbenchmarks (libwsproto beside wslay and
# memcpy) and the echo server comparisons (WebSocket servers beside plain TCP
# servers, same load generator, same run), and prints Markdown on stdout.
#
#   bash tests/bench/run-benchmarks.sh [--quick] [--rounds N]
#
# Everything runs on 127.0.0.1 and every loop is bounded. wslay columns need
# the Debian package libwslay-dev (apt-get install libwslay-dev).
set -euo pipefail

ROUNDS=3
QUICK=0
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) QUICK=1; ROUNDS=1 ;;
    --rounds) ROUNDS="$2"; shift ;;
    *) echo "usage: $0 [--quick] [--rounds N]" >&2; exit 2 ;;
  esac
  shift
done

SRC="$(cd "$(dirname "$0")/../.." && pwd)"
WORK="$(mktemp -d)"
PIDS=()
cleanup() {
  for p in "${PIDS[@]:-}"; do
    if [ -n "$p" ]; then kill "$p" 2>/dev/null || true; fi
  done
  rm -rf "$WORK"
}
trap cleanup EXIT

log() { echo "$*" >&2; }

log "building in $WORK/build (-O2)"
cmake -S "$SRC" -B "$WORK/build" -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_C_FLAGS_RELEASE="-O2 -DNDEBUG" -DWSPROTO_BUILD_TESTS=OFF \
  -DWSPROTO_BUILD_EXAMPLES=ON -DWSPROTO_BUILD_BENCH=ON >"$WORK/cmake.log" 2>&1
cmake --build "$WORK/build" -j2 >"$WORK/build.log" 2>&1
B="$WORK/build"

echo "# Benchmark run"
echo
echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "- CPU: $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(nproc) cores" \
     "($(lscpu | sed -n 's/^Thread(s) per core: *//p') thread(s) per core)"
echo "- kernel: $(uname -r); compiler: $(cc --version | head -1)"
echo "- wslay: $(dpkg-query -W -f '${Package} ${Version}' libwslay-dev 2>/dev/null || echo 'not installed')"
echo "- load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
echo

# ------------------------------------------------------------ footprint
echo "## Footprint"
echo
# The .text section alone: size's default "text" column also counts
# .rodata and .eh_frame, which is not what the footprint target means.
text_of() { size -A "$1" | awk '$1 == ".text" { s += $2 } END { print s }'; }
TEXT=$(text_of "$B/libwsproto.a")
if [ "$(nm "$B/libwsproto.a" 2>/dev/null | grep -c ' U deflateInit2_')" -gt 0 ]; then
  DEFLATE="with permessage-deflate (zlib) compiled in"
else
  DEFLATE="without permessage-deflate"
fi
echo "- libwsproto .text at -O2 (sum over libwsproto.a, $DEFLATE): $TEXT bytes ($(awk -v t="$TEXT" 'BEGIN { printf "%.1f", t / 1024 }') KiB)"
cmake -S "$SRC" -B "$WORK/nodeflate" -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_C_FLAGS_RELEASE="-O2 -DNDEBUG" -DWSPROTO_BUILD_TESTS=OFF \
  -DWSPROTO_BUILD_EXAMPLES=OFF -DWSPROTO_DEFLATE=OFF >/dev/null 2>&1 &&
  cmake --build "$WORK/nodeflate" -j2 --target wsproto_static >/dev/null 2>&1 &&
  TEXT2=$(text_of "$WORK/nodeflate/libwsproto.a") &&
  echo "- the same with -DWSPROTO_DEFLATE=OFF: $TEXT2 bytes ($(awk -v t="$TEXT2" 'BEGIN { printf "%.1f", t / 1024 }') KiB)"
echo "- per-object .text (bytes): $(size -A "$B/libwsproto.a" | awk '/\(ex / { name = $1; sub(/\.c\.o.*/, "", name) } $1 == ".text" { printf "%s %s, ", name, $2 }' | sed 's/, $//')"
echo "- wsp_conn_size(): printed on the first line of bench_micro below"
echo

# ------------------------------------------------------------ micro
echo "## Microbenchmarks"
echo
echo '```'
if [ "$QUICK" = 1 ]; then "$B/tests/bench/bench_micro" --quick; else "$B/tests/bench/bench_micro" --reps "$ROUNDS"; fi
echo '```'
echo

# ------------------------------------------------------------ servers
start_server() { # name, command... ; sets PORT
  local name="$1"; shift
  "$@" >"$WORK/$name.out" 2>"$WORK/$name.err" &
  PIDS+=("$!")
  LASTPID=$!
  for _ in $(seq 1 50); do
    PORT=$(sed -n 's/.*listening on .*:\([0-9][0-9]*\)$/\1/p' "$WORK/$name.out" | head -1)
    [ -n "$PORT" ] && return 0
    sleep 0.1
  done
  log "server $name did not start"; cat "$WORK/$name.err" >&2; exit 1
}

start_server ws_epoll "$B/examples/epoll_echo_server" --port 0 --quiet --max-seconds 3600
WS_EPOLL=$PORT
start_server tcp_epoll "$B/tests/bench/tcp_echo_server" --mode epoll --port 0 --max-seconds 3600
TCP_EPOLL=$PORT
start_server ws_threads "$B/examples/echo_server" --port 0 --quiet --max-connections 20000
WS_THREADS=$PORT
start_server tcp_threads "$B/tests/bench/tcp_echo_server" --mode threads --port 0 --max-seconds 3600
TCP_THREADS=$PORT

LOAD="$B/examples/ws_load"

# run_load PORT ARGS... -> prints "msgps p50 p99" (fails the script on errors)
run_load() {
  local port="$1"; shift
  local out
  if ! out=$("$LOAD" --port "$port" --timeout 120 "$@" 2>"$WORK/load.err"); then
    log "ws_load failed: --port $port $*"; cat "$WORK/load.err" >&2; exit 1
  fi
  echo "$out" | sed -n 's/^RESULT .*msgps=\([0-9.]*\) mbps=\([0-9.]*\) p50_us=\([0-9.]*\) p99_us=\([0-9.]*\) errors=0$/\1 \2 \3 \4/p'
}

# Scenarios: label | ws_load arguments
SCEN=(
  "1 conn, 32 B, 1 in flight|-c 1 -n 20000 -s 32 -w 1"
  "1 conn, 32 B, 64 in flight|-c 1 -n 400000 -s 32 -w 64"
  "100 conns, 32 B, 16 in flight|-c 100 -n 4000 -s 32 -w 16"
  "10 conns, 64 KiB, 4 in flight|-c 10 -n 400 -s 65536 -w 4"
)
if [ "$QUICK" = 1 ]; then
  SCEN=(
    "1 conn, 32 B, 1 in flight|-c 1 -n 2000 -s 32 -w 1"
    "1 conn, 32 B, 64 in flight|-c 1 -n 40000 -s 32 -w 64"
    "100 conns, 32 B, 16 in flight|-c 100 -n 400 -s 32 -w 16"
    "10 conns, 64 KiB, 4 in flight|-c 10 -n 40 -s 65536 -w 4"
  )
fi

best() { # keeps the line with the highest first field
  sort -g -r -k1,1 | head -1
}

echo_table() { # title, ws port, tcp port, ws label, tcp label
  local title="$1" wsp="$2" tcpp="$3" wsl="$4" tcpl="$5"
  echo "## $title"
  echo
  echo "Best of $ROUNDS rounds; in each round the two servers are loaded one right after the other with the same ws_load."
  echo
  echo "| scenario | $tcpl msg/s | $wsl msg/s | ratio | $wsl MB/s | $wsl p50 / p99 us | $tcpl p50 / p99 us |"
  echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"
  for s in "${SCEN[@]}"; do
    local label="${s%%|*}" args="${s#*|}"
    local ws_all="" tcp_all=""
    for _ in $(seq 1 "$ROUNDS"); do
      # shellcheck disable=SC2086
      ws_all+="$(run_load "$wsp" $args)"$'\n'
      # shellcheck disable=SC2086
      tcp_all+="$(run_load "$tcpp" --raw $args)"$'\n'
    done
    local ws tcp
    ws=$(printf '%s' "$ws_all" | grep . | best)
    tcp=$(printf '%s' "$tcp_all" | grep . | best)
    read -r wm wmb wp50 wp99 <<<"$ws"
    read -r tm _ tp50 tp99 <<<"$tcp"
    echo "| $label | $tm | $wm | $(awk -v a="$wm" -v b="$tm" 'BEGIN { printf "%.2f", a / b }') | $wmb | $wp50 / $wp99 | $tp50 / $tp99 |"
  done
  echo
}

log "echo servers: epoll"
echo_table "Echo servers: examples/epoll_echo_server vs plain TCP epoll" \
  "$WS_EPOLL" "$TCP_EPOLL" "epoll_echo_server" "TCP epoll"
log "echo servers: thread per connection"
echo_table "Echo servers: examples/echo_server (thread per connection) vs plain TCP threads" \
  "$WS_THREADS" "$TCP_THREADS" "echo_server" "TCP threads"

# ------------------------------------------------------------ 10k + idle
log "10,000 connections"
echo "## 10,000 concurrent connections (epoll_echo_server)"
echo
N10K=10000
[ "$QUICK" = 1 ] && N10K=2000
r=$(run_load "$WS_EPOLL" -c "$N10K" -n 10 -s 100 -w 2)
echo "- $N10K connections x 10 messages of 100 B, 2 in flight, every echo verified, 0 errors: $(echo "$r" | awk '{ print $1 }') msg/s"
echo

rss_kib() { awk '/^VmRSS/ { print $2 }' "/proc/$1/status"; }

idle_rss() { # port pid [--raw] -> KiB per connection
  local port="$1" pid="$2" n=1000 before after
  shift 2
  sleep 0.5
  before=$(rss_kib "$pid")
  "$LOAD" --port "$port" -c "$n" -n 1 -s 32 --idle 4 "$@" >"$WORK/idle.out" 2>&1 &
  local lp=$!
  for _ in $(seq 1 100); do grep -q '^IDLE' "$WORK/idle.out" && break; sleep 0.1; done
  sleep 1
  after=$(rss_kib "$pid")
  wait "$lp" || { log "idle load failed"; cat "$WORK/idle.out" >&2; exit 1; }
  awk -v a="$after" -v b="$before" -v n="$n" 'BEGIN { printf "%.3f KiB (RSS %d -> %d KiB)", (a - b) / n, b, a }'
}

log "idle memory"
echo "## Memory per idle connection (1000 connections, after one echo each)"
echo
# Fresh servers, so earlier runs have not already touched their memory.
start_server ws_epoll_idle "$B/examples/epoll_echo_server" --port 0 --quiet --max-seconds 600
echo "- epoll_echo_server: $(idle_rss "$PORT" "$LASTPID")"
start_server tcp_epoll_idle "$B/tests/bench/tcp_echo_server" --mode epoll --port 0 --max-seconds 600
echo "- TCP epoll server: $(idle_rss "$PORT" "$LASTPID" --raw)"
echo
echo "- load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
