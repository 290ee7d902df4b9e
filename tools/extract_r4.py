#!/usr/bin/env python3
"""Generate crates/cdex-fhir/profiles/r4/base.json and .../r4/valuesets.json, the compact FHIR R4 (4.0.1)
base definitions the validator (crates/cdex-fhir/src/validate) reads.

Source: the npm package `fhir` (FHIR.js) version 4.12.0, files profiles/types.json (an
R4 digest of profiles-types.json + profiles-resources.json: every element with its name, type,
cardinality, choice group, target profiles and binding) and profiles/valuesets.json (R4 value
sets, expanded to their codes). Reproduce with:

    mkdir -p /tmp/r4src && cd /tmp/r4src && npm pack fhir@4.12.0 && tar xzf fhir-4.12.0.tgz
    python3 tools/extract_r4.py /tmp/r4src/package

Kept: every datatype (complex and primitive) and the resources listed in RESOURCES (those the
CDex profiles, the CDex examples and the harness's scenarios use), plus the names of all R4
resource types (for reference checks). Value sets: those bound `required` from a kept element.
"""
import json
import os
import sys

SOURCE = {"package": "fhir", "registry": "npm", "version": "4.12.0",
          "files": ["profiles/types.json", "profiles/valuesets.json"], "fhirVersion": "4.0.1"}

RESOURCES = [
    "Resource", "DomainResource", "Binary", "Bundle", "CapabilityStatement", "Claim", "ClaimResponse",
    "Communication", "CommunicationRequest", "Composition", "Condition", "Coverage",
    "DiagnosticReport", "DocumentReference", "Encounter", "Endpoint", "Location", "Observation",
    "OperationOutcome", "Organization", "Parameters", "Patient", "Practitioner",
    "PractitionerRole", "Procedure", "Provenance", "Questionnaire", "QuestionnaireResponse",
    "RelatedPerson", "ServiceRequest", "Subscription", "Task", "AllergyIntolerance",
    "MedicationRequest", "Medication", "Immunization", "CarePlan", "Goal", "Device",
    "TestScript", "TestReport",
]


def compact(prop, choices):
    """One element of the digest -> the compact form (None for `_x` primitive extensions,
    which the validator derives from the primitive element itself)."""
    name = prop["_name"]
    if name.startswith("_"):
        return None
    out = {"n": name}
    t = prop["_type"]
    if prop.get("_choice"):
        group = prop["_choice"].removesuffix("[x]")  # value[x] or value -> value
        if group in choices:
            choices[group]["t"].append(t)
            return None
        out = {"n": group, "choice": True, "t": [t]}
        choices[group] = out
    elif t.startswith("#"):
        out["ref"] = t[1:]
    else:
        out["t"] = [t]
    out["min"] = 1 if prop.get("_required") else 0
    out["max"] = "*" if prop.get("_multiple") else "1"
    if prop.get("_targetProfiles"):
        out["targets"] = [p.rsplit("/", 1)[-1] for p in prop["_targetProfiles"]]
    if prop.get("_valueSetStrength") and prop.get("_valueSet"):
        out["binding"] = {"strength": prop["_valueSetStrength"], "valueSet": prop["_valueSet"]}
    kids = prop.get("_properties") or []
    if t in ("BackboneElement", "Element") and kids and not name.startswith("_"):
        out["children"] = elements(kids)
    return out


def elements(props):
    choices = {}
    out = []
    for p in props:
        c = compact(p, choices)
        if c is not None:
            out.append(c)
    return out


def main():
    src = sys.argv[1] if len(sys.argv) > 1 else "/tmp/r4src/package"
    here = os.path.dirname(os.path.abspath(__file__))
    dest = os.path.join(here, "..", "crates", "cdex-fhir", "profiles", "r4")
    with open(os.path.join(src, "package.json")) as f:
        version = json.load(f)["version"]
    if version != SOURCE["version"]:
        sys.exit(f"expected fhir@{SOURCE['version']}, found {version}")
    with open(os.path.join(src, "profiles", "types.json")) as f:
        types = json.load(f)
    with open(os.path.join(src, "profiles", "valuesets.json")) as f:
        valuesets = json.load(f)
    all_resources = sorted(k for k, v in types.items() if v["_kind"] == "resource")
    kept = {}
    for name, t in types.items():
        if t["_kind"] == "resource" and name not in RESOURCES:
            continue
        kept[name] = {"kind": t["_kind"], "elements": elements(t["_properties"])}
    missing = [r for r in RESOURCES if r not in kept]
    if missing:
        sys.exit(f"not in the source: {missing}")

    required = set()

    def collect(els):
        for e in els:
            b = e.get("binding")
            if b and b["strength"] == "required":
                required.add(b["valueSet"])
            collect(e.get("children", []))
    for t in kept.values():
        collect(t["elements"])
    vs_out = {}
    for url in sorted(required):
        vs = valuesets.get(url) or valuesets.get(url.split("|")[0])
        if vs is None:
            continue
        vs_out[url.split("|")[0]] = [
            {"system": s["uri"], "codes": [c["code"] for c in s.get("codes", [])]}
            for s in vs.get("systems", [])
        ]
    os.makedirs(dest, exist_ok=True)
    with open(os.path.join(dest, "base.json"), "w") as f:
        json.dump({"source": SOURCE, "resourceTypes": all_resources, "types": kept}, f,
                  separators=(",", ":"), sort_keys=True)
        f.write("\n")
    with open(os.path.join(dest, "valuesets.json"), "w") as f:
        json.dump({"source": SOURCE, "valueSets": vs_out}, f, separators=(",", ":"),
                  sort_keys=True)
        f.write("\n")
    print(f"{len(kept)} types, {len(vs_out)} of {len(required)} required value sets")


if __name__ == "__main__":
    main()
