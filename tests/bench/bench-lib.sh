# Sourced by the shell benchmarks (epoll-threads.sh, epoll-vs-raw.sh,
# h2-vs-h1.sh): a scratch directory and servers that go away with the
# script, a process's CPU time, and medians.

WORK="$(mktemp -d)"
PIDS=()
bench_cleanup() {
  for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap bench_cleanup EXIT
HZ=$(getconf CLK_TCK)

# start_server NAME COMMAND... : runs COMMAND (a server started with
# --port 0) in the background and waits for its "listening on HOST:PORT"
# line (text may follow the port); sets PORT and LASTPID. A taskset in front execs the server, so
# LASTPID is the server's PID either way.
start_server() {
  local name="$1"; shift
  "$@" >"$WORK/$name.out" 2>"$WORK/$name.err" &
  LASTPID=$!
  PIDS+=("$LASTPID")
  for _ in $(seq 1 50); do
    PORT=$(sed -n 's/.*listening on [^ ]*:\([0-9][0-9]*\).*/\1/p' "$WORK/$name.out" | head -1)
    [ -n "$PORT" ] && return 0
    sleep 0.1
  done
  echo "server $name did not start" >&2; exit 1
}

# SERVER_CPUS / LOAD_CPUS (taskset lists) pin the servers and the load
# generators: put SPIN in front of a server command, LPIN in front of a
# load command; both are empty without them.
SPIN=() LPIN=()
[ -n "${SERVER_CPUS:-}" ] && SPIN=(taskset -c "$SERVER_CPUS")
[ -n "${LOAD_CPUS:-}" ] && LPIN=(taskset -c "$LOAD_CPUS")

# ticks PID: user + system time of the process so far, in clock ticks (HZ).
ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

# median: of the numbers on stdin, one a line (the lower one of an even count).
median() { sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
