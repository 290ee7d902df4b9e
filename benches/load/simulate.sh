#!/usr/bin/env bash
# Load run of `cdex-harness simulate information-recipient` (release build): wrk POSTs a
# valid CDex Communication (about 400 bytes) at it and this prints requests/s, p99 latency,
# errors, how many exchanges the live check checked, and the simulator's RSS.
#
#   benches/load/simulate.sh                 # wrk -t2 -c32 -d10s, one round
#   CONNS=1000 benches/load/simulate.sh      # a thousand connections at once
#   ROUNDS=10 benches/load/simulate.sh       # 10 rounds on one simulator: RSS over 100k+ pushes
#   BIN=path/to/cdex-harness SIM_ARGS="--keep 1000" benches/load/simulate.sh
#   BARE=1 benches/load/simulate.sh          # the floor: the same HTTP stack doing no CDex work
#                                            # (benches/load/bare_server.rs)
#
# Needs wrk (apt-get install -y wrk). wrk runs on the same machine and shares its cores:
# say so with the figures. The simulator's log goes to $LOG (default a temporary file).
set -euo pipefail
cd "$(dirname "$0")/../.."
CONNS=${CONNS:-32}
THREADS=${THREADS:-2}
DURATION=${DURATION:-10s}
ROUNDS=${ROUNDS:-1}
PORT=${PORT:-18090}
SIM_ARGS=${SIM_ARGS:-}
if [ -z "${BIN:-}" ]; then
  cargo build --release --quiet
  BIN=target/release/cdex-harness
fi
if [ -n "${BARE:-}" ]; then
  cargo build --release --quiet --example bare_server
fi
command -v wrk >/dev/null || { echo "wrk is not installed: apt-get install -y wrk" >&2; exit 2; }
# wrk's connections are file descriptors too.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
LOG=${LOG:-$(mktemp /tmp/simulate-load.XXXXXX)}
ERR=$LOG.err
if [ -n "${BARE:-}" ]; then
  target/release/examples/bare_server "127.0.0.1:$PORT" >"$LOG" 2>"$ERR" &
else
  # shellcheck disable=SC2086
  "$BIN" simulate information-recipient --listen "127.0.0.1:$PORT" $SIM_ARGS >"$LOG" 2>"$ERR" &
fi
PID=$!
# The simulator finishes its log on Ctrl-C (SIGINT); the bare server has no log and, started
# in the background by a script, ignores SIGINT: it gets SIGTERM.
STOP=${BARE:+TERM}
STOP=${STOP:-INT}
trap 'kill -$STOP $PID 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  grep -q "Ctrl-C to stop" "$ERR" 2>/dev/null && break
  sleep 0.1
done
grep -q "Ctrl-C to stop" "$ERR" || { cat "$ERR" >&2; exit 1; }
rss() { awk -v k="$1" '$1 == k":" {printf "%.1f MiB", $2 / 1024}' "/proc/$PID/status"; }
# The simulator's CPU time so far (user + system, clock ticks): per request, a figure that
# depends less on what else the machine runs than requests/s does.
cpu() { sed 's/.*) //' "/proc/$PID/stat" | awk '{print $12 + $13}'; }
TCK=$(getconf CLK_TCK)
echo "${BARE:+bare_server (no CDex work) instead of }simulate information-recipient $SIM_ARGS; wrk -t$THREADS -c$CONNS -d$DURATION; $(nproc) cores shared with wrk"
echo "RSS at start: $(rss VmRSS)"
total=0
for r in $(seq 1 "$ROUNDS"); do
  c0=$(cpu)
  out=$(wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" --latency -s benches/load/post.lua \
    "http://127.0.0.1:$PORT/Communication")
  reqs=$(awk '/requests in/ {print $1}' <<<"$out")
  total=$((total + reqs))
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  p50=$(awk '$1 == "50%" {print $2}' <<<"$out")
  p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
  errors=$(grep -E "Socket errors|Non-2xx" <<<"$out" | tr '\n' ' ' || true)
  per=$(awk -v c=$(($(cpu) - c0)) -v n="$reqs" -v t="$TCK" 'BEGIN { if (n > 0) printf "%.0f", c / t * 1e6 / n }')
  echo "round $r: $rps req/s, p50 $p50, p99 $p99, ${errors:-no errors}; simulator CPU ${per} us/request; $total pushes so far; RSS $(rss VmRSS), peak $(rss VmHWM)"
done
kill -$STOP $PID
wait $PID || true
trap - EXIT
checked=$(grep -c -- "-> 201" "$LOG" || true)
echo "answered $total; logged and checked: $checked"
grep "^note:" "$LOG" | tail -n 5 || true
[ -n "${KEEP_LOG:-}" ] || rm -f "$LOG" "$ERR"
