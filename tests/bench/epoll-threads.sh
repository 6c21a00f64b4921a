#!/usr/bin/env bash
# examples/epoll_echo_server with --threads 1 against --threads 2, rounds
# alternating, medians; then each loop's share of the connections and
# messages of the 2-loop server (its SIGUSR1 counters).
#
#   bash tests/bench/epoll-threads.sh BUILD_DIR [ROUNDS] [LOAD ARGS...]
#
# Default load: 100 connections x 32 B x 16 in flight. On a machine with 4
# or more cores, pin the server to two of them and the load to the others
# (SERVER_CPUS=0,1 LOAD_CPUS=2,3) to see scaling; on 2 cores the load
# generator needs a core of its own, so the figure can only show that a
# second loop costs nothing and shares the work.
set -euo pipefail

B="$1"
ROUNDS="${2:-3}"
shift 2 || shift $#
LOAD_ARGS=("$@")
[ ${#LOAD_ARGS[@]} -eq 0 ] && LOAD_ARGS=(-c 100 -n 3000 -s 32 -w 16)
. "$(dirname "$0")/bench-lib.sh"

server() { # name threads
  start_server "$1" "${SPIN[@]}" "$B/examples/epoll_echo_server" --port 0 --quiet \
    --max-seconds 3600 --threads "$2"
}
server one 1; P1=$PORT; PID1=$LASTPID
server two 2; P2=$PORT; PID2=$LASTPID

run() { # pid port -> "msgps cpu_us_per_msg"
  local t0 t1 out
  t0=$(ticks "$1")
  out=$("${LPIN[@]}" "$B/examples/ws_load" --port "$2" --timeout 120 "${LOAD_ARGS[@]}")
  t1=$(ticks "$1")
  echo "$out" | awk -v d=$((t1 - t0)) -v hz="$HZ" '/^RESULT/ {
      for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
      printf "%s %.3f\n", v["msgps"], d * 1e6 / hz / v["msgs"] }'
}

: >"$WORK/r1"; : >"$WORK/r2"
for r in $(seq 1 "$ROUNDS"); do
  run "$PID1" "$P1" >>"$WORK/r1"
  run "$PID2" "$P2" >>"$WORK/r2"
done
m1=$(cut -d' ' -f1 "$WORK/r1" | median); c1=$(cut -d' ' -f2 "$WORK/r1" | median)
m2=$(cut -d' ' -f1 "$WORK/r2" | median); c2=$(cut -d' ' -f2 "$WORK/r2" | median)
echo "load: ws_load ${LOAD_ARGS[*]}; rounds: $ROUNDS"
echo "- --threads 1: $m1 msg/s, server CPU $c1 us/msg (rounds: $(cut -d' ' -f1 "$WORK/r1" | tr '\n' ' '))"
echo "- --threads 2: $m2 msg/s, server CPU $c2 us/msg (rounds: $(cut -d' ' -f1 "$WORK/r2" | tr '\n' ' '))"
awk -v a="$m1" -v b="$m2" 'BEGIN { printf "- ratio 2 loops / 1 loop: %.2f\n", b / a }'
kill -USR1 "$PID2"
sleep 0.5
echo "- per loop of the 2-loop server, over all rounds:"
grep -E "loop [0-9]+: " "$WORK/two.err" | sed 's/^epoll_echo_server: /  - /'
echo "- CPU seconds per thread of the 2-loop server (utime + stime):"
for t in /proc/"$PID2"/task/*; do
  awk -v hz="$HZ" -v t="${t##*/}" '{ printf "  - thread %s: %.2f s\n", t, ($14 + $15) / hz }' "$t/stat"
done
echo "- load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
