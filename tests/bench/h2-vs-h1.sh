#!/usr/bin/env bash
# WebSocket echo over HTTP/2 (RFC 8441) beside WebSocket over HTTP/1.1, in
# one run: examples/h2_echo_server (cleartext h2c) loaded by
# tests/bench/h2_load, against examples/epoll_echo_server and
# examples/echo_server loaded by examples/ws_load. Same message shapes on
# both sides; the 100-stream shape runs over HTTP/2 both as 10 connections
# x 10 streams and as 1 connection x 100 streams, the 10-stream shapes as
# 10 connections x 1 stream and 1 connection x 10 streams. Rounds alternate
# the servers and every figure is the median over the rounds. Server CPU
# per message comes from /proc/PID/stat (utime + stime) read before and
# after each run; the generators' CPU from bash's time keyword.
#
#   bash tests/bench/h2-vs-h1.sh BUILD_DIR [ROUNDS]
#
# BUILD_DIR holds examples/ and tests/bench/ built with WSPROTO_BUILD_BENCH
# (h2_load and h2_echo_server need libnghttp2). ONLY=REGEX picks shapes by
# label; TIMEOUT=SECONDS bounds each load run (default 60). Everything runs
# on 127.0.0.1. A shape marked "(N failed)" had N runs that did not finish
# cleanly (see the script's stderr); their msg/s count the echoes that
# came back within the timeout.
set -euo pipefail

B="$1"
ROUNDS="${2:-3}"
. "$(dirname "$0")/bench-lib.sh"
TMO="${TIMEOUT:-60}"

for f in examples/h2_echo_server examples/epoll_echo_server examples/echo_server \
         examples/ws_load tests/bench/h2_load; do
  [ -x "$B/$f" ] || { echo "missing $B/$f (build with WSPROTO_BUILD_BENCH and libnghttp2)" >&2; exit 1; }
done

start_server h2 "$B/examples/h2_echo_server" --port 0 --quiet
H2_PORT=$PORT H2_PID=$LASTPID
start_server epoll "$B/examples/epoll_echo_server" --port 0 --quiet --max-seconds 3600
EP_PORT=$PORT EP_PID=$LASTPID
start_server thr "$B/examples/echo_server" --port 0 --quiet
TH_PORT=$PORT TH_PID=$LASTPID

# run PID COMMAND... -> "msgps server_cpu_us_per_msg generator_cpu_us_per_msg
# errors". A run that fails but still prints its RESULT line (a timeout:
# msgs= counts the echoes that came back) is kept, with its errors; the
# table marks its shape. One without a RESULT line stops the script.
run() {
  local pid="$1"; shift
  local t0 t1 out
  t0=$(ticks "$pid")
  if ! out=$( { TIMEFORMAT='%U %S'; time "$@" 2>"$WORK/load.err"; } 2>"$WORK/time"); then
    echo "load failed: $*" >&2; cat "$WORK/load.err" >&2
    [[ "$out" == *$'\n'RESULT* || "$out" == RESULT* ]] || exit 1
  fi
  t1=$(ticks "$pid")
  read -r gu gs <"$WORK/time"
  echo "$out" | awk -v d=$((t1 - t0)) -v hz="$HZ" -v g="$gu $gs" '/^RESULT/ {
      for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
      split(g, gt, " ")
      m = v["msgs"] > 0 ? v["msgs"] : 1
      printf "%s %.2f %.2f %d\n", v["msgps"], d * 1e6 / hz / m, (gt[1] + gt[2]) * 1e6 / m, v["errors"] }'
}

# label | ws_load args | h2_load args (messages per stream as in ws_load,
# so both sides move the same number of messages)
SCEN=(
  "1 x 32 B x 64 (h2: 1 conn x 1 stream)|-c 1 -n 300000 -s 32 -w 64|-c 1 --streams 1 -n 300000 -s 32 -w 64"
  "100 x 32 B x 16 (h2: 10 conns x 10 streams)|-c 100 -n 3000 -s 32 -w 16|-c 10 --streams 10 -n 3000 -s 32 -w 16"
  "100 x 32 B x 16 (h2: 1 conn x 100 streams)|-c 100 -n 3000 -s 32 -w 16|-c 1 --streams 100 -n 3000 -s 32 -w 16"
  "10 x 64 KiB x 4 (h2: 10 conns x 1 stream)|-c 10 -n 1500 -s 65536 -w 4|-c 10 --streams 1 -n 1500 -s 65536 -w 4"
  "10 x 64 KiB x 4 (h2: 1 conn x 10 streams)|-c 10 -n 1500 -s 65536 -w 4|-c 1 --streams 10 -n 1500 -s 65536 -w 4"
  "10 x 1 MiB x 1 (h2: 10 conns x 1 stream)|-c 10 -n 60 -s 1048576 -w 1|-c 10 --streams 1 -n 60 -s 1048576 -w 1"
  "10 x 1 MiB x 1 (h2: 1 conn x 10 streams)|-c 10 -n 60 -s 1048576 -w 1|-c 1 --streams 10 -n 60 -s 1048576 -w 1"
)

echo "| shape | h2_echo_server msg/s | epoll_echo_server msg/s | echo_server msg/s | h2 / epoll | server CPU us/msg: h2 / epoll / echo_server | generator CPU us/msg: h2_load / ws_load (epoll) |"
echo "|---|---|---|---|---|---|---|"
for s in "${SCEN[@]}"; do
  label="${s%%|*}"
  if [ -n "${ONLY:-}" ] && ! [[ "$label" =~ $ONLY ]]; then continue; fi
  rest="${s#*|}"
  read -r -a h1args <<<"${rest%%|*}"
  read -r -a h2args <<<"${rest#*|}"
  : >"$WORK/h2"; : >"$WORK/ep"; : >"$WORK/th"
  for r in $(seq 1 "$ROUNDS"); do
    run "$H2_PID" "$B/tests/bench/h2_load" --port "$H2_PORT" --timeout "$TMO" "${h2args[@]}" >>"$WORK/h2"
    run "$EP_PID" "$B/examples/ws_load" --port "$EP_PORT" --timeout "$TMO" "${h1args[@]}" >>"$WORK/ep"
    run "$TH_PID" "$B/examples/ws_load" --port "$TH_PORT" --timeout "$TMO" "${h1args[@]}" >>"$WORK/th"
  done
  col() { cut -d' ' -f"$2" "$WORK/$1" | median; }
  # Runs with errors, per server.
  bad() { awk '$4 > 0 { n++ } END { print n + 0 }' "$WORK/$1"; }
  awk -v l="$label" -v h2="$(col h2 1)" -v ep="$(col ep 1)" -v th="$(col th 1)" \
      -v h2c="$(col h2 2)" -v epc="$(col ep 2)" -v thc="$(col th 2)" \
      -v h2g="$(col h2 3)" -v epg="$(col ep 3)" \
      -v h2b="$(bad h2)" -v epb="$(bad ep)" -v thb="$(bad th)" 'BEGIN {
    f1 = h2b ? sprintf(" (%d failed)", h2b) : ""; f2 = epb ? sprintf(" (%d failed)", epb) : ""
    f3 = thb ? sprintf(" (%d failed)", thb) : ""
    printf "| %s | %d%s | %d%s | %d%s | %.2f | %.2f / %.2f / %.2f | %.2f / %.2f |\n",
           l, h2, f1, ep, f2, th, f3, (ep > 0 ? h2 / ep : 0), h2c, epc, thc, h2g, epg }'
done
echo
echo "rounds: $ROUNDS; load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
