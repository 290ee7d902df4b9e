#!/usr/bin/env bash
# Every figure of docs/performance.md's summary, side by side in one run, on one release
# build: the memory and time of the two built-in packs, the 600-exchange run beside hurl and
# Newman, the simulator under wrk (32 and 1,000 connections), the scaling bench and the
# whole-pack `cargo bench`. Each part is the script named beside it, so any one can be re-run
# alone; this one runs them in turn and prints the machine's load before each.
#
#   cargo build --release && benches/figures.sh            # about 5 minutes
#   SCALE="100 1000 10000" benches/figures.sh              # the scaling sizes (default 100 1000)
#   SKIP="scale bench" benches/figures.sh                  # leave parts out
#
# Needs /usr/bin/time, wrk, and for the side-by-side part hurl and Newman (see
# benches/peers/run.sh; a tool that is missing is left out). Run it on a quiet machine: every
# part shares the same cores with its load generator, and other work on the machine shows in
# every wall-clock figure (the load average printed before each part tells).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
cd "$root"
bin=${CDEX_HARNESS:-$root/target/release/cdex-harness}
export CDEX_HARNESS=$bin
[ -x "$bin" ] || { echo "error: $bin is missing: cargo build --release" >&2; exit 2; }
# shellcheck source=measure.sh
. "$here/measure.sh"
skip=" ${SKIP:-} "
work=$(mktemp -d /tmp/cdex-figures.XXXXXX)
trap 'rm -rf "$work"' EXIT

part() { # name title
  if [[ "$skip" == *" $1 "* ]]; then return 1; fi
  echo
  echo "== $2  ($(date -u +%H:%M:%S) UTC, load average $(cut -d' ' -f1-3 /proc/loadavg))"
}

echo "cdex-harness figures: $("$bin" --version), commit $(git rev-parse --short HEAD 2>/dev/null || echo '?'), $(nproc) cores"

if part packs "the built-in packs against the reference actors (peak RSS, wall)"; then
  for pack in cdex-2019 cdex-2.1; do
    measure "$work/$pack.log" "$bin" run --pack "$pack" --out "$work/$pack"
    echo "  run --pack $pack: exit $CODE, $WALL s, peak $RSS_MIB MiB"
  done
fi

if part peers "600 exchanges: harness, hurl, Newman against the same simulator (benches/peers/run.sh)"; then
  ROUNDS=${ROUNDS:-3} WORK="$work/peers" "$here/peers/run.sh"
fi

if part load "the simulator under wrk (benches/load/simulate.sh)"; then
  BIN=$bin "$here/load/simulate.sh"
  BIN=$bin CONNS=1000 "$here/load/simulate.sh"
fi

if part scale "scaling (benches/scale/run.sh)"; then
  # shellcheck disable=SC2086
  WORK="$work/scale" "$here/scale/run.sh" ${SCALE:-100 1000}
fi

if part bench "cargo bench --bench pack"; then
  cargo bench --quiet --bench pack 2>/dev/null | grep -v '^$'
fi
