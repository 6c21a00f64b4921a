#!/usr/bin/env bash
# Two builds of h2_echo_server side by side: server CPU per message (utime
# + stime from /proc/PID/stat around each run) and msg/s, the two servers
# alternating within each of 3 rounds, loaded by one h2_load.
#
#   bash tests/bench/h2-ab.sh SERVER_A SERVER_B H2_LOAD [h2_load args...]
#
# e.g. bash tests/bench/h2-ab.sh old/examples/h2_echo_server \
#        build/examples/h2_echo_server build/tests/bench/h2_load \
#        -c 10 --streams 1 -n 4000 -s 65536 -w 4
# PORT_A / PORT_B choose the loopback ports (default 9411 / 9412).
set -euo pipefail
A=$1 B=$2 L=$3
shift 3
PA_PORT=${PORT_A:-9411} PB_PORT=${PORT_B:-9412}
HZ=$(getconf CLK_TCK)
ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
"$A" --port "$PA_PORT" --quiet >/dev/null 2>&1 & PA=$!
"$B" --port "$PB_PORT" --quiet >/dev/null 2>&1 & PB=$!
trap 'kill -TERM $PA $PB 2>/dev/null; wait' EXIT
sleep 0.5
for r in 1 2 3; do
  for v in "A:$PA_PORT:$PA" "B:$PB_PORT:$PB"; do
    IFS=: read -r name port pid <<<"$v"
    t0=$(ticks "$pid")
    out=$("$L" --port "$port" "$@" | grep '^RESULT')
    t1=$(ticks "$pid")
    echo "$out" | awk -v n="$name" -v r="$r" -v d=$((t1 - t0)) -v hz="$HZ" '{
      for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
      printf "%s round=%d msgps=%s server_cpu_us_per_msg=%.2f errors=%s\n",
             n, r, v["msgps"], d * 1e6 / hz / v["msgs"], v["errors"] }'
  done
done
