#!/usr/bin/env bash
# The scaling bench: packs of N generated scenarios (benches/gen_pack.py: each POSTs a CDex
# Communication and GETs it back, five checks, against the built-in reference actors), and for
# each N the wall time and peak RSS of `check` (load and validate the pack) and of `run` (the
# whole run, reports written), with the release build.
#
#   cargo build --release && benches/scale/run.sh [N...]      (default: 100 1000 10000)
#
# Prints a table (and writes it to $WORK/scale.tsv); SVG=FILE also draws it (time and memory
# against N). Generated packs and reports go to $WORK (default /tmp/cdex-scale), removed at
# the end unless KEEP=1.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
bin=${CDEX_HARNESS:-$root/target/release/cdex-harness}
work=${WORK:-/tmp/cdex-scale}
# shellcheck source=../measure.sh
. "$root/benches/measure.sh"
[ -x "$bin" ] || { echo "error: $bin is missing: cargo build --release" >&2; exit 2; }
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(100 1000 10000)
mkdir -p "$work"
tsv=$work/scale.tsv
printf 'scenarios\tcheck_s\tcheck_mib\trun_s\trun_mib\trun_ms_per_scenario\n' >"$tsv"
printf '%10s %10s %12s %10s %12s %14s\n' scenarios "check s" "check MiB" "run s" "run MiB" "run ms/scen."
for n in "${sizes[@]}"; do
  pack=$work/pack-$n
  python3 "$root/benches/gen_pack.py" "$pack" --scenarios "$n"
  measure "$work/check-$n.log" "$bin" check --scenarios "$pack"
  [ "$CODE" = 0 ] || { echo "error: check of $n scenarios: exit $CODE (see $work/check-$n.log)" >&2; exit 1; }
  cw=$WALL cm=$RSS_MIB
  measure "$work/run-$n.log" "$bin" run --scenarios "$pack" --out "$work/out-$n"
  [ "$CODE" = 0 ] || { echo "error: run of $n scenarios: exit $CODE (see $work/run-$n.log)" >&2; exit 1; }
  per=$(awk -v w="$WALL" -v n="$n" 'BEGIN { printf "%.2f", w * 1000 / n }')
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$n" "$cw" "$cm" "$WALL" "$RSS_MIB" "$per" >>"$tsv"
  printf '%10s %10s %12s %10s %12s %14s\n' "$n" "$cw" "$cm" "$WALL" "$RSS_MIB" "$per"
  [ "${KEEP:-0}" = 1 ] || rm -rf "$pack" "$work/out-$n"
done
if [ -n "${SVG:-}" ]; then
  python3 "$here/plot.py" "$tsv" "$SVG"
  echo "wrote $SVG"
fi
