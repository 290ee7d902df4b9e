#!/usr/bin/env bash
# Run the CDex 2.1 pack's Direct Query scenarios against a real FHIR server: Helios FHIR
# Server (hfs, Rust) playing the Data Source.
#
#   tools/interop/hfs-cdex21.sh [other `cdex-harness run` arguments...]
#
# Installs hfs if it is missing (about 40 minutes on 2 cores), starts it on a free loopback
# port with a throw-away database, loads the search parameters its crates.io package lacks and
# a consistent Direct Query data set for the pack's member (a Patient with the member
# identifier, Conditions, HbA1c Observations, two progress notes with their Binary content,
# Provenance of the Conditions), then runs
#   cdex-harness run --pack cdex-2.1 --actor data-source-server --target http://127.0.0.1:PORT \
#     --scenario 'dss-dq-*' --var token=none --option provenance --out reports/hfs-cdex21
# writing reports/hfs-cdex21/, prints the console summary, stops hfs and exits with the
# harness's exit code.
#
# Only the Direct Query scenarios: the Task-based ones need a Data Source that works on the
# Task it is sent (accepts it, runs the query, completes it with an output), which a generic
# FHIR server does not do: it stores the Task as `requested` for ever. `--option provenance`
# because the data set has Provenance (drop it with an --option of your own);
# `dss-dq-read-refused` (signatures) is not applicable: hfs does not refuse reads.
#
# Environment: HFS (the hfs binary, default: hfs on PATH or ~/.cargo/bin/hfs), HFS_OUT (report
# folder, default reports/hfs-cdex21), KEEP_HFS_DIR=1 (keep its data and log).
# See docs/interop.md ("The CDex 2.1 Direct Query scenarios") for what it found.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
OUT="${HFS_OUT:-reports/hfs-cdex21}"

log() { printf 'hfs-cdex21.sh: %s\n' "$*" >&2; }

# --- 1-3. hfs, the harness, a free port and a work folder (shared) ----------------------
# shellcheck source=tools/interop/hfs-common.sh
source "$ROOT/tools/interop/hfs-common.sh"

log "starting hfs at $BASE (log: $WORK/hfs.log)"
# Run from $WORK so its SQLite database is created there, not in the source tree.
(
  cd "$WORK"
  exec "$HFS_BIN" --port "$PORT" --host 127.0.0.1 --base-url "$BASE" \
    --data-dir "$DATA" --default-fhir-version R4
) >"$WORK/hfs.log" 2>&1 &
HFS_PID=$!

wait_for_hfs

put() { # TYPE/ID; the resource on stdin, @BASE@ replaced by the server's base URL
  local body; body="$(sed "s#@BASE@#$BASE#g")"
  must '200|201' PUT "$1" "$body"
}

# --- 4. search parameters the Direct Query scenarios use -------------------------------------
# hfs's crates.io package ships without search-parameters-r4.json ("Using minimal fallback":
# only _id, _lastUpdated, _tag... exist) and then ignores the others, answering every resource
# of the type. These are the R4 definitions (expressions without `.where(resolve() is X)`).
search_param() { # BASE-TYPE CODE PARAM-TYPE EXPRESSION [TARGET]
  local base="$1" code="$2" type="$3" expr="$4" target="${5:-}"
  local tgt=""
  [[ -n "$target" ]] && tgt=",\"target\":[\"$target\"]"
  must '200|201' POST SearchParameter "{\"resourceType\":\"SearchParameter\",\
\"url\":\"http://hl7.org/fhir/SearchParameter/cdex-harness-$base-$code\",\
\"name\":\"$code\",\"status\":\"active\",\"description\":\"$base $code (as in FHIR R4)\",\
\"code\":\"$code\",\"base\":[\"$base\"],\"type\":\"$type\",\"expression\":\"$expr\"$tgt}"
}
search_param Patient           identifier      token     'Patient.identifier'
search_param Patient           name            string    'Patient.name'
search_param Patient           birthdate       date      'Patient.birthDate'
search_param Patient           gender          token     'Patient.gender'
search_param Condition         patient         reference 'Condition.subject' Patient
search_param Condition         clinical-status token     'Condition.clinicalStatus'
search_param Observation       patient         reference 'Observation.subject' Patient
search_param Observation       code            token     'Observation.code'
search_param Observation       date            date      'Observation.effective'
search_param DocumentReference patient         reference 'DocumentReference.subject' Patient
search_param DocumentReference type            token     'DocumentReference.type'
search_param DocumentReference period          date      'DocumentReference.context.period'
search_param Provenance        target          reference 'Provenance.target'

# --- 5. the Direct Query data set ------------------------------------------------------------
# The pack's default variables (scenarios/cdex-2.1/pack.yaml): member
# http://example.org/cdex/payer/member-ids|cdex-member-1, Amy Shaw, female, 1987-02-20;
# observation_code 4548-4 (HbA1c) after observation_since 2020-01-01; doc_type 11506-3
# (progress note). Each query has something to find and something it must leave out.
MEMBER_SYSTEM="http://example.org/cdex/payer/member-ids"
put Organization/cdex-dq-org <<'JSON'
{"resourceType":"Organization","id":"cdex-dq-org","identifier":[{"system":"http://hl7.org/fhir/sid/us-npi","value":"9941339108"}],"name":"Example Provider Organization"}
JSON
put Patient/cdex-dq-patient <<JSON
{"resourceType":"Patient","id":"cdex-dq-patient",
 "identifier":[{"type":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v2-0203","code":"MB"}]},"system":"$MEMBER_SYSTEM","value":"cdex-member-1"}],
 "name":[{"family":"Shaw","given":["Amy"]}],"gender":"female","birthDate":"1987-02-20"}
JSON
# another member, so that a search ignoring its parameters shows
put Patient/cdex-dq-other <<JSON
{"resourceType":"Patient","id":"cdex-dq-other",
 "identifier":[{"system":"$MEMBER_SYSTEM","value":"cdex-member-2"}],
 "name":[{"family":"Other","given":["Bob"]}],"gender":"male","birthDate":"1960-05-04"}
JSON
condition() { # ID CLINICAL-STATUS SNOMED TEXT PATIENT
  put "Condition/$1" <<JSON
{"resourceType":"Condition","id":"$1",
 "clinicalStatus":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/condition-clinical","code":"$2"}]},
 "verificationStatus":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/condition-ver-status","code":"confirmed"}]},
 "category":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/condition-category","code":"problem-list-item"}]}],
 "code":{"coding":[{"system":"http://snomed.info/sct","code":"$3"}],"text":"$4"},
 "subject":{"reference":"Patient/$5"}}
JSON
}
condition cdex-dq-cond-diabetes     active   44054006  "Diabetes mellitus type 2" cdex-dq-patient
condition cdex-dq-cond-hypertension active   38341003  "Hypertension"             cdex-dq-patient
condition cdex-dq-cond-sprain       resolved 44465007  "Sprain of ankle"          cdex-dq-patient
condition cdex-dq-cond-other        active   195967001 "Asthma"                   cdex-dq-other
observation() { # ID DATE VALUE PATIENT
  put "Observation/$1" <<JSON
{"resourceType":"Observation","id":"$1","status":"final",
 "category":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/observation-category","code":"laboratory"}]}],
 "code":{"coding":[{"system":"http://loinc.org","code":"4548-4","display":"Hemoglobin A1c/Hemoglobin.total in Blood"}]},
 "subject":{"reference":"Patient/$4"},"effectiveDateTime":"$2",
 "valueQuantity":{"value":$3,"unit":"%","system":"http://unitsofmeasure.org","code":"%"}}
JSON
}
observation cdex-dq-a1c-2019 2019-06-12 8.1 cdex-dq-patient
observation cdex-dq-a1c-2021 2021-03-10 7.2 cdex-dq-patient
observation cdex-dq-a1c-2022 2022-02-15 6.8 cdex-dq-patient
observation cdex-dq-a1c-other 2022-01-20 5.4 cdex-dq-other
note() { # ID START END TEXT-BASE64
  put "Binary/$1-content" <<JSON
{"resourceType":"Binary","id":"$1-content","contentType":"text/plain","data":"$4"}
JSON
  put "DocumentReference/$1" <<JSON
{"resourceType":"DocumentReference","id":"$1","status":"current",
 "type":{"coding":[{"system":"http://loinc.org","code":"11506-3","display":"Progress note"}]},
 "category":[{"coding":[{"system":"http://hl7.org/fhir/us/core/CodeSystem/us-core-documentreference-category","code":"clinical-note"}]}],
 "subject":{"reference":"Patient/cdex-dq-patient"},"date":"${3}T17:00:00Z",
 "author":[{"reference":"Organization/cdex-dq-org"}],
 "content":[{"attachment":{"contentType":"text/plain","url":"@BASE@/Binary/$1-content"}}],
 "context":{"period":{"start":"${2}T09:00:00Z","end":"${3}T17:00:00Z"}}}
JSON
}
# "Progress note 2021: HbA1c 7.2 %" / "Progress note 2022: HbA1c 6.8 %, diet kept"
note cdex-dq-note-2021 2021-03-10 2021-03-10 UHJvZ3Jlc3Mgbm90ZSAyMDIxOiBIYkExYyA3LjIgJQ==
note cdex-dq-note-2022 2022-02-15 2022-02-15 UHJvZ3Jlc3Mgbm90ZSAyMDIyOiBIYkExYyA2LjggJSwgZGlldCBrZXB0
provenance() { # ID TARGET
  put "Provenance/$1" <<JSON
{"resourceType":"Provenance","id":"$1","target":[{"reference":"$2"}],
 "recorded":"2022-02-15T17:05:00Z",
 "agent":[{"type":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/provenance-participant-type","code":"author"}]},
   "who":{"reference":"Organization/cdex-dq-org"}}]}
JSON
}
provenance cdex-dq-prov-diabetes     Condition/cdex-dq-cond-diabetes
provenance cdex-dq-prov-hypertension Condition/cdex-dq-cond-hypertension
provenance cdex-dq-prov-sprain       Condition/cdex-dq-cond-sprain

# Index what was loaded under the new parameters. $reindex answers 202 and works in the
# background: wait until a search by the member identifier finds exactly the member.
must '200|201|202' POST '$reindex' '{"resourceType":"Parameters"}'
for _ in $(seq 1 60); do
  fhir GET "Patient?identifier=$MEMBER_SYSTEM|cdex-member-1" >/dev/null
  if grep -q '"cdex-dq-patient"' "$WORK/last.json" && ! grep -q '"cdex-dq-other"' "$WORK/last.json"; then break; fi
  sleep 0.5
done
grep -q '"cdex-dq-patient"' "$WORK/last.json" && ! grep -q '"cdex-dq-other"' "$WORK/last.json" \
  || { log "hfs does not search Patient by identifier after \$reindex"; exit 2; }
log "hfs searches by the loaded parameters"

# --- 6. the Direct Query scenarios of the Data Source pack -----------------------------------
# hfs has no authentication configured: token none (no Authorization header).
args=("$@")
case " $* " in *" --option "*|*" --option="*) ;; *) args=(--option provenance "${args[@]}") ;; esac
log "running: cdex-harness run --pack cdex-2.1 --actor data-source-server --target $BASE --scenario 'dss-dq-*' --var token=none --out $OUT ${args[*]}"
set +e
"$HARNESS" run --pack cdex-2.1 --actor data-source-server --target "$BASE" \
  --scenario 'dss-dq-*' --var token=none --out "$OUT" "${args[@]}"
rc=$?
set -e
log "harness exit code $rc; reports in $OUT/"
exit "$rc"
