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

# --- 1-3. hfs, the harness, a free port and a work folder (shared) ----------------------
# shellcheck source=tools/interop/hfs-common.sh
source "$ROOT/tools/interop/hfs-common.sh"

log "starting hfs at $BASE (log: $WORK/hfs.log)"
# Run from $WORK so its SQLite database is created there, not in the source tree.
(
  cd "$WORK"
  HFS_SUBSCRIPTIONS_ENABLED=true HFS_SUBSCRIPTION_ALLOW_PRIVATE_ENDPOINTS=true \
    exec "$HFS_BIN" --port "$PORT" --host 127.0.0.1 --base-url "$BASE" \
      --data-dir "$DATA" --default-fhir-version R4
) >"$WORK/hfs.log" 2>&1 &
HFS_PID=$!

wait_for_hfs


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
