#!/usr/bin/env python3
"""Convert the 2019 CDex draft StructureDefinitions (FHIR R4 XML) to FHIR JSON, once, into
crates/cdex-fhir/profiles/cdex-2019/. A small converter for the elements StructureDefinitions use: repeating
elements are listed in REPEATING, booleans and integers by name; the narrative is dropped.

    python3 tools/sd_xml_to_json.py /work/shared/spec/cdex-2019-draft/resources/structuredefinition \
        cdex-communication cdex-communicationrequest cdex-task
"""
import json
import os
import sys
import xml.etree.ElementTree as ET

NS = "{http://hl7.org/fhir}"
REPEATING = {"element", "type", "targetProfile", "profile", "discriminator", "constraint",
             "condition", "mapping", "alias", "contact", "telecom", "jurisdiction",
             "useContext", "keyword", "extension", "modifierExtension", "coding", "example",
             "context", "contextInvariant", "code", "aggregation", "representation"}
# `type` and `code` repeat only as ElementDefinition.type / ElementDefinition.code; under any
# other parent (discriminator.type, type.code, coding.code) they are single.
ONLY_UNDER_ELEMENT = {"type", "code"}
BOOLEANS = {"mustSupport", "isModifier", "isSummary", "abstract", "experimental",
            "sliceIsConstraining", "ordered", "fixedBoolean", "patternBoolean"}
INTEGERS = {"min", "fixedInteger", "patternInteger"}


def convert(node, parent):
    out = {}
    for child in node:
        if not isinstance(child.tag, str):
            continue
        name = child.tag.replace(NS, "")
        if name == "text" and parent == "StructureDefinition":
            continue
        if "value" in child.attrib and len(child) == 0:
            v = child.attrib["value"]
            if name in BOOLEANS:
                v = v == "true"
            elif name in INTEGERS:
                v = int(v)
        else:
            v = convert(child, name)
        if "id" in child.attrib and isinstance(v, dict):
            v = {"id": child.attrib["id"], **v}
        if name in REPEATING and (name not in ONLY_UNDER_ELEMENT or parent == "element"):
            out.setdefault(name, []).append(v)
        else:
            out[name] = v
    return out


def main():
    src = sys.argv[1]
    here = os.path.dirname(os.path.abspath(__file__))
    dest = os.path.join(here, "..", "crates", "cdex-fhir", "profiles", "cdex-2019")
    os.makedirs(dest, exist_ok=True)
    for name in sys.argv[2:]:
        root = ET.parse(os.path.join(src, name + ".xml")).getroot()
        sd = {"resourceType": "StructureDefinition", **convert(root, "StructureDefinition")}
        with open(os.path.join(dest, name + ".json"), "w") as f:
            json.dump(sd, f, indent=2)
            f.write("\n")
        print(name, len(sd["differential"]["element"]), "elements")


if __name__ == "__main__":
    main()
