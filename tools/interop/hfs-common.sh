# Shared by the interop scripts that run the harness against Helios FHIR Server (hfs.sh,
# hfs-cdex21.sh): find or install hfs, build the harness, pick a free loopback port and a
# throw-away work folder removed on exit. Sourced after the caller sets ROOT and defines log().
# Sets HFS_BIN, HARNESS, PORT, BASE, WORK, DATA and HFS_PID (the caller starts hfs, then
# calls wait_for_hfs); defines must() for loading data.

# --- 1. hfs ---------------------------------------------------------------------------------
HFS_BIN="${HFS:-}"
if [[ -z "$HFS_BIN" ]]; then
  if command -v hfs >/dev/null 2>&1; then HFS_BIN="$(command -v hfs)"
  elif [[ -x "$HOME/.cargo/bin/hfs" ]]; then HFS_BIN="$HOME/.cargo/bin/hfs"
  fi
fi
if [[ -z "$HFS_BIN" ]]; then
  log "hfs is not installed: installing helios-hfs from crates.io (about 40 minutes on 2 cores)"
  cargo install helios-hfs --locked --no-default-features --features R4,sqlite,subscriptions
  HFS_BIN="$HOME/.cargo/bin/hfs"
fi
log "using $("$HFS_BIN" --version 2>/dev/null || echo "$HFS_BIN")"
command -v curl >/dev/null || { log "curl is needed"; exit 2; }

# --- 2. the harness -------------------------------------------------------------------------
cargo build -q
HARNESS="$ROOT/target/debug/cdex-harness"

# --- 3. start hfs on a free loopback port ---------------------------------------------------
free_port() {
  if command -v python3 >/dev/null 2>&1; then
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
  else
    local p
    for p in $(seq 18080 18280); do
      if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return; fi
    done
    return 1
  fi
}
PORT="$(free_port)"
BASE="http://127.0.0.1:$PORT"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/cdex-hfs.XXXXXX")"
DATA="$WORK/data"
mkdir -p "$DATA"
HFS_PID=""
cleanup() {
  if [[ -n "$HFS_PID" ]] && kill -0 "$HFS_PID" 2>/dev/null; then
    kill "$HFS_PID" 2>/dev/null || true
    wait "$HFS_PID" 2>/dev/null || true
  fi
  if [[ "${KEEP_HFS_DIR:-}" == 1 ]]; then log "kept $WORK (hfs.log, database)"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT INT TERM

# --- waiting for hfs, and loading data ---------------------------------------------------
wait_for_hfs() {
  for _ in $(seq 1 120); do
    if curl -fsS -o /dev/null -H 'Accept: application/fhir+json' "$BASE/metadata" 2>/dev/null; then break; fi
    if ! kill -0 "$HFS_PID" 2>/dev/null; then log "hfs exited:"; tail -20 "$WORK/hfs.log" >&2; exit 2; fi
    sleep 0.5
  done
  curl -fsS -o /dev/null "$BASE/metadata" || { log "hfs did not answer GET /metadata in 60s"; tail -20 "$WORK/hfs.log" >&2; exit 2; }
  log "hfs answers GET /metadata"
}

fhir() { # METHOD PATH [BODY]: prints the status; the body goes to $WORK/last.json
  local method="$1" path="$2" body="${3:-}"
  local args=(-sS -o "$WORK/last.json" -w '%{http_code}' -X "$method" -H 'Accept: application/fhir+json')
  if [[ -n "$body" ]]; then args+=(-H 'Content-Type: application/fhir+json' --data-binary "$body"); fi
  curl "${args[@]}" "$BASE/$path"
}

must() { # EXPECTED-STATUS-REGEX METHOD PATH [BODY]
  local want="$1"; shift
  local got; got="$(fhir "$@")"
  if [[ ! "$got" =~ ^($want)$ ]]; then
    log "$1 $2 answered $got (wanted $want):"; head -c 2000 "$WORK/last.json" >&2; echo >&2; exit 2
  fi
  log "$1 $2 -> $got"
}
