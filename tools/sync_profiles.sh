#!/bin/sh
# Refresh the profile data the validator loads (crates/cdex-fhir/profiles/) from the spec material in
# /work/shared/spec (or $SPEC): the CDex 2.1.0 StructureDefinitions, value sets and code system
# (copied as published, JSON) and the 2019 draft's StructureDefinitions (XML, converted once
# to JSON by tools/sd_xml_to_json.py). The R4 base comes from tools/extract_r4.py.
set -eu
SPEC=${SPEC:-/work/shared/spec}
HERE=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$HERE/crates/cdex-fhir/profiles/cdex-2.1.0"
for f in "$SPEC"/cdex-2.1.0/resources/structuredefinition-*.json \
         "$SPEC"/cdex-2.1.0/resources/valueset-*.json \
         "$SPEC"/cdex-2.1.0/resources/codesystem-*.json; do
  cp "$f" "$HERE/crates/cdex-fhir/profiles/cdex-2.1.0/"
done
python3 "$HERE/tools/sd_xml_to_json.py" "$SPEC/cdex-2019-draft/resources/structuredefinition" \
  cdex-communication cdex-communicationrequest cdex-task \
  cdex-payload-query-string cdex-payload-clinical-note-type
# The CDex 2.1.0 examples, for crates/cdex-fhir/tests/validation.rs (every one must validate).
mkdir -p "$HERE/crates/cdex-fhir/tests/validation/examples"
cp "$SPEC"/cdex-2.1.0/examples/*.json "$HERE/crates/cdex-fhir/tests/validation/examples/"
# The R4 Subscriptions Backport profiles (FSH only in the spec material) compiled to JSON.
python3 "$HERE/tools/fsh_to_sd.py" "$SPEC/subscriptions-backport"
