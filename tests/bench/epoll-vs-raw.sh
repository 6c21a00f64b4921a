#!/usr/bin/env bash
# examples/epoll_echo_server against the plain TCP epoll echo server
# (tests/bench/tcp_echo_server), with two load generators for the TCP side:
# ws_load --raw and tcp_load, written apart from it, so a slow baseline
# generator shows. Rounds alternate the servers and every figure is the
# median over the rounds; the ratio compares the WebSocket server with the
# better of the two TCP generators. Server CPU per message comes from
# /proc/PID/stat (utime + stime) read before and after each run.
#
#   bash tests/bench/epoll-vs-raw.sh BUILD_DIR [ROUNDS] [-- SERVER ARGS...]
#
# BUILD_DIR holds examples/ and tests/bench/ built with WSPROTO_BUILD_BENCH.
# Everything runs on 127.0.0.1; each run is bounded by its message count
# and ws_load's --timeout.
#
# SERVER_CPUS and LOAD_CPUS (taskset lists, e.g. SERVER_CPUS=0 LOAD_CPUS=1)
# pin both servers alike, and every load generator alike, so that on a small
# machine the generator does not take the server's core from it.
set -euo pipefail

B="$1"
ROUNDS="${2:-3}"
shift 2 || shift $#
[ "${1:-}" = "--" ] && shift
EXTRA=("$@")
. "$(dirname "$0")/bench-lib.sh"

start_server ws "${SPIN[@]}" "$B/examples/epoll_echo_server" --port 0 --quiet --max-seconds 3600 "${EXTRA[@]}"
WS_PORT=$PORT WS_PID=$LASTPID
start_server tcp "${SPIN[@]}" "$B/tests/bench/tcp_echo_server" --mode epoll --port 0 --max-seconds 3600
TCP_PORT=$PORT TCP_PID=$LASTPID

# run PID COMMAND... -> "msgps server_cpu_us_per_msg generator_cpu_us_per_msg"
# (the generator's user + system time comes from bash's time keyword)
run() {
  local pid="$1"; shift
  local t0 t1 out
  t0=$(ticks "$pid")
  if ! out=$( { TIMEFORMAT='%U %S'; time "${LPIN[@]}" "$@" 2>"$WORK/load.err"; } 2>"$WORK/time"); then
    echo "load failed: $*" >&2; cat "$WORK/load.err" >&2; exit 1
  fi
  t1=$(ticks "$pid")
  read -r gu gs <"$WORK/time"
  echo "$out" | awk -v d=$((t1 - t0)) -v hz="$HZ" -v g="$gu $gs" '/^RESULT/ {
      for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
      split(g, gt, " ")
      printf "%s %.2f %.2f\n", v["msgps"], d * 1e6 / hz / v["msgs"], (gt[1] + gt[2]) * 1e6 / v["msgs"] }'
}

# label | -c -n -s -w. n is chosen so that each server spends at least
# about 0.3 s of CPU per run on a quiet machine: CPU time comes in clock
# ticks (10 ms), and fewer than 30 of them make the per-message figure
# move by several percent from one tick.
SCEN=(
  "1 conn x 32 B x 1|-c 1 -n 60000 -s 32 -w 1"
  "1 conn x 32 B x 64|-c 1 -n 1500000 -s 32 -w 64"
  "100 conns x 32 B x 16|-c 100 -n 15000 -s 32 -w 16"
  "10 conns x 64 KiB x 1|-c 10 -n 4000 -s 65536 -w 1"
  "10 conns x 64 KiB x 4|-c 10 -n 6000 -s 65536 -w 4"
  "10 conns x 1 MiB x 1|-c 10 -n 200 -s 1048576 -w 1"
)

echo "| scenario | WS msg/s | ws_load --raw msg/s | tcp_load msg/s | WS / best TCP | WS server CPU us/msg | TCP server CPU us/msg (ws_load --raw / tcp_load) | CPU ratio | generator CPU us/msg: ws_load / ws_load --raw / tcp_load |"
echo "|---|---|---|---|---|---|---|---|---|"
for s in "${SCEN[@]}"; do
  label="${s%%|*}"
  # ONLY=REGEX picks scenarios by label.
  if [ -n "${ONLY:-}" ] && ! [[ "$label" =~ $ONLY ]]; then continue; fi
  read -r -a args <<<"${s#*|}"
  : >"$WORK/ws" ; : >"$WORK/raw" ; : >"$WORK/tl"
  for r in $(seq 1 "$ROUNDS"); do
    run "$WS_PID" "$B/examples/ws_load" --port "$WS_PORT" --timeout 120 "${args[@]}" >>"$WORK/ws"
    run "$TCP_PID" "$B/examples/ws_load" --port "$TCP_PORT" --timeout 120 --raw "${args[@]}" >>"$WORK/raw"
    run "$TCP_PID" "$B/tests/bench/tcp_load" --port "$TCP_PORT" "${args[@]}" >>"$WORK/tl"
  done
  ws=$(cut -d' ' -f1 "$WORK/ws" | median); wsc=$(cut -d' ' -f2 "$WORK/ws" | median)
  raw=$(cut -d' ' -f1 "$WORK/raw" | median); rawc=$(cut -d' ' -f2 "$WORK/raw" | median)
  tl=$(cut -d' ' -f1 "$WORK/tl" | median); tlc=$(cut -d' ' -f2 "$WORK/tl" | median)
  wsg=$(cut -d' ' -f3 "$WORK/ws" | median); rawg=$(cut -d' ' -f3 "$WORK/raw" | median)
  tlg=$(cut -d' ' -f3 "$WORK/tl" | median)
  awk -v l="$label" -v ws="$ws" -v raw="$raw" -v tl="$tl" -v wsc="$wsc" -v rawc="$rawc" -v tlc="$tlc" \
      -v g="$wsg / $rawg / $tlg" 'BEGIN {
    best = raw > tl ? raw : tl; bc = rawc < tlc ? rawc : tlc
    printf "| %s | %d | %d | %d | %.2f | %.2f | %.2f / %.2f | %.2f | %s |\n", l, ws, raw, tl, ws / best, wsc, rawc, tlc, (bc > 0 ? wsc / bc : 0), g }'
done
echo
echo "rounds: $ROUNDS; servers on CPUs ${SERVER_CPUS:-any}, load generators on ${LOAD_CPUS:-any}; load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
