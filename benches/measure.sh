# Shared by the bench scripts (sourced): run a command under /usr/bin/time -v and read back its
# wall time (seconds) and peak RSS (MiB).
#
#   measure LOG COMMAND...   sets WALL, RSS_MIB and CODE; the command's output goes to LOG

if [ ! -x /usr/bin/time ]; then
  echo "error: /usr/bin/time is missing (apt-get install -y time)" >&2
  exit 2
fi

measure() {
  local log=$1
  shift
  local t
  t=$(mktemp)
  CODE=0
  /usr/bin/time -v -o "$t" "$@" >"$log" 2>&1 || CODE=$?
  # "Elapsed (wall clock) time (h:mm:ss or m:ss): 0:01.23"
  WALL=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$t" |
    awk -F: '{ s = 0; for (i = 1; i <= NF; i++) s = s * 60 + $i; printf "%.2f", s }')
  RSS_MIB=$(awk -F': ' '/Maximum resident set size/ {printf "%.1f", $2 / 1024}' "$t")
  rm -f "$t"
}
