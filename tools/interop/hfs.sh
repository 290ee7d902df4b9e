#!/usr/bin/env bash
# Run the Information Server pack against a real FHIR server: Helios FHIR Server (hfs, Rust).
#
#   tools/interop/hfs.sh [other `cdex-harness run` arguments...]
#
# Installs hfs if it is missing (about 40 minutes on 2 cores), starts it on a free loopback
# port with a throw-away database, loads what its crates.io package lacks, runs
#   cdex-harness run --actor information-server --target http://127.0.0.1:PORT \
#     --var token=none --var restricted_patient_id=none --out reports/hfs --option notified-pull
# (--option notified-pull unless the arguments name an --option of their own)
# writing reports/hfs/, prints the console summary, stops hfs and exits with the harness's
# exit code. Environment: HFS (the hfs binary, default: hfs on PATH or ~/.cargo/bin/hfs),
# HFS_OUT (report folder, default reports/hfs), KEEP_HFS_DIR=1 (keep its data and log).
# See docs/interop.md for what it found.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
OUT="${HFS_OUT:-reports/hfs}"

log() { printf 'hfs.sh: %s\n' "$*" >&2; }

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
    for p in $(seq 18080 18180); do
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

log "starting hfs at $BASE (log: $WORK/hfs.log)"
# Run from $WORK so its SQLite database is created there, not in the source tree.
(
  cd "$WORK"
  HFS_SUBSCRIPTIONS_ENABLED=true HFS_SUBSCRIPTION_ALLOW_PRIVATE_ENDPOINTS=true \
    exec "$HFS_BIN" --port "$PORT" --host 127.0.0.1 --base-url "$BASE" \
      --data-dir "$DATA" --default-fhir-version R4
) >"$WORK/hfs.log" 2>&1 &
HFS_PID=$!

for _ in $(seq 1 120); do
  if curl -fsS -o /dev/null -H 'Accept: application/fhir+json' "$BASE/metadata" 2>/dev/null; then break; fi
  if ! kill -0 "$HFS_PID" 2>/dev/null; then log "hfs exited:"; tail -20 "$WORK/hfs.log" >&2; exit 2; fi
  sleep 0.5
done
curl -fsS -o /dev/null "$BASE/metadata" || { log "hfs did not answer GET /metadata in 60s"; tail -20 "$WORK/hfs.log" >&2; exit 2; }
log "hfs answers GET /metadata"

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

# --- 4. the test patient (the pack's patient_id) ---------------------------------------------
must '200|201' PUT Patient/cdex-patient-1 \
  '{"resourceType":"Patient","id":"cdex-patient-1","identifier":[{"system":"urn:cdex:harness:patient","value":"cdex-patient-1"}],"name":[{"family":"Harness","given":["CDex"]}],"gender":"unknown","birthDate":"1970-01-01"}'

# --- 5. search parameters the scenarios use that hfs's crates.io package lacks ---------------
# (the R4 spec's own definitions; hfs ships without search-parameters-r4.json, so only a
# handful of common parameters exist). Custom ids/urls keep them apart from spec ones.
search_param() { # TYPE CODE TYPE-OF-PARAM EXPRESSION [TARGET]
  local base="$1" code="$2" type="$3" expr="$4" target="${5:-}"
  local tgt=""
  [[ -n "$target" ]] && tgt=",\"target\":[\"$target\"]"
  must '200|201' POST SearchParameter "{\"resourceType\":\"SearchParameter\",\
\"url\":\"http://hl7.org/fhir/SearchParameter/cdex-harness-$base-$code\",\
\"name\":\"$code\",\"status\":\"active\",\"description\":\"$base $code (as in FHIR R4)\",\
\"code\":\"$code\",\"base\":[\"$base\"],\"type\":\"$type\",\"expression\":\"$expr\"$tgt}"
}
search_param Communication        identifier token     'Communication.identifier'
search_param Communication        patient    reference 'Communication.subject' Patient
search_param CommunicationRequest identifier token     'CommunicationRequest.identifier'
search_param CommunicationRequest patient    reference 'CommunicationRequest.subject' Patient
search_param Task                 identifier token     'Task.identifier'
search_param Task                 patient    reference 'Task.for' Patient
must '200|201|202' POST '$reindex' '{"resourceType":"Parameters"}'
sleep 3

# --- 5b. the HRex Task topic, for --option notified-pull -------------------------------------
# In R4 there is no SubscriptionTopic resource: the Subscriptions Backport IG carries a topic
# as a Basic whose code is SubscriptionTopic, with the R5 cross-version extensions. hfs
# registers exactly that shape (helios-subscriptions, topics/mod.rs,
# parse_r4_backport_basic_topic_resource). Without it hfs answers 201 to the Subscription,
# logs "subscription topic not found" and leaves it `requested`.
TOPIC_URL="http://hl7.org/fhir/us/davinci-hrex/SubscriptionTopic/Task"
must '200|201' PUT Basic/cdex-hrex-task-topic '{"resourceType":"Basic","id":"cdex-hrex-task-topic",
 "code":{"coding":[{"system":"http://hl7.org/fhir/fhir-types","code":"SubscriptionTopic"}]},
 "extension":[
  {"url":"http://hl7.org/fhir/5.0/StructureDefinition/extension-SubscriptionTopic.url","valueUri":"'"$TOPIC_URL"'"},
  {"url":"http://hl7.org/fhir/5.0/StructureDefinition/extension-SubscriptionTopic.title","valueString":"HRex Task (loaded by cdex-harness tools/interop/hfs.sh)"},
  {"url":"http://hl7.org/fhir/5.0/StructureDefinition/extension-SubscriptionTopic.resourceTrigger","extension":[
    {"url":"resource","valueUri":"http://hl7.org/fhir/StructureDefinition/Task"},
    {"url":"supportedInteraction","valueCode":"create"},
    {"url":"supportedInteraction","valueCode":"update"}]},
  {"url":"http://hl7.org/fhir/5.0/StructureDefinition/extension-SubscriptionTopic.canFilterBy","extension":[
    {"url":"resource","valueUri":"Task"},
    {"url":"filterParameter","valueString":"owner"}]},
  {"url":"http://hl7.org/fhir/5.0/StructureDefinition/extension-SubscriptionTopic.notificationShape","extension":[
    {"url":"resource","valueUri":"Task"}]}
 ]}'

# --- 6. the Information Server pack ---------------------------------------------------------
# hfs has no authentication configured (token none: the unauthorized scenario is not
# applicable) and no patient it refuses (restricted_patient_id none); rejected_type is picked
# from its CapabilityStatement by the harness.
# hfs supports notified pull (rest-hook, R4 backport) once the topic above is loaded: claim
# it unless the caller names options of their own.
args=("$@")
case " $* " in *" --option "*|*" --option="*) ;; *) args=(--option notified-pull "${args[@]}") ;; esac
log "running: cdex-harness run --actor information-server --target $BASE --var token=none --var restricted_patient_id=none --out $OUT ${args[*]}"
set +e
"$HARNESS" run --actor information-server --target "$BASE" \
  --var token=none --var restricted_patient_id=none --out "$OUT" "${args[@]}"
rc=$?
set -e
if grep -q 'helios_subscriptions.*WARN\|WARN helios_subscriptions' "$WORK/hfs.log" 2>/dev/null; then
  log "hfs warnings about subscriptions (its log):"
  grep 'WARN helios_subscriptions' "$WORK/hfs.log" | cut -c1-300 | tail -8 >&2 || true
fi
log "harness exit code $rc; reports in $OUT/"
exit "$rc"
