#!/usr/bin/env python3
"""Compile the R4 Subscriptions Backport profiles, which the spec material has only as FSH
(/work/shared/spec/subscriptions-backport/*.fsh), into StructureDefinition/ValueSet/CodeSystem
JSON in crates/cdex-fhir/profiles/backport/. SUSHI (the FSH compiler) needs the FHIR package registry, which
this machine does not reach, so this is a small compiler for the FSH subset those two files
use: Profile/Extension/CodeSystem/ValueSet/Invariant declarations; rules `path min..max [MS]
[SU]`, `path MS`, `path only Type|Type(Target)|Profile`, `path from ValueSet`,
`path = value (exactly)` and `= #code`, `path contains X named y min..max [MS]` (also
continued over `and` lines), `path ^slicing.*`, `obeys key`; RuleSets (`insert`), metadata
caret rules, descriptive texts and Instances are skipped.

    python3 tools/fsh_to_sd.py /work/shared/spec/subscriptions-backport
"""
import json
import os
import re
import sys

CANON = "http://hl7.org/fhir/uv/subscriptions-backport"
BASE = "http://hl7.org/fhir/StructureDefinition/"
DECL = ("Profile:", "Extension:", "CodeSystem:", "ValueSet:", "Invariant:", "Instance:",
        "RuleSet:", "Alias:", "Logical:", "Mapping:")
PRIMITIVES = {"string", "code", "uri", "url", "canonical", "boolean", "integer", "decimal",
              "unsignedInt", "positiveInt", "instant", "dateTime", "date", "time", "id",
              "markdown", "base64Binary", "oid", "uuid"}


def blocks(text):
    """Split FSH into declarations: (kind, name, header dict, rule lines)."""
    out = []
    cur = None
    for raw in text.splitlines():
        line = raw.split(" //")[0].rstrip() if not raw.lstrip().startswith("//") else ""
        if not line.strip():
            continue
        if line.startswith(DECL):
            kind, name = line.split(":", 1)
            cur = {"kind": kind, "name": name.strip(), "head": {}, "rules": []}
            out.append(cur)
        elif cur is None:
            continue
        elif re.match(r"^[A-Z][A-Za-z]*:", line):
            k, v = line.split(":", 1)
            cur["head"][k] = v.strip().strip('"')
        elif line.startswith("* "):
            cur["rules"].append(line[2:].strip())
        elif line.startswith(" ") and cur["rules"]:
            cur["rules"][-1] += " " + line.strip()
    return out


class Compiler:
    def __init__(self, decls):
        self.decls = decls
        self.by_name = {d["name"]: d for d in decls}

    def url(self, name_or_url, kind="StructureDefinition"):
        if "://" in name_or_url:
            return name_or_url
        d = self.by_name.get(name_or_url)
        if d is None:
            return BASE + name_or_url
        kind = {"ValueSet": "ValueSet", "CodeSystem": "CodeSystem"}.get(d["kind"], kind)
        return f"{CANON}/{kind}/{d['head']['Id']}"

    def type_of(self, name):
        """The FHIR type a local profile constrains."""
        d = self.by_name.get(name)
        if d is None:
            return name
        if d["kind"] == "Extension":
            return "Extension"
        return self.type_of(d["head"].get("Parent", name))

    def element_id(self, root, path, slice_names):
        parts = []
        for seg in re.findall(r"[^.\[]+(?:\[[^\]]*\])?", path):
            m = re.match(r"^([^\[]+)(?:\[([^\]]*)\])?$", seg)
            name, sl = m.group(1), m.group(2)
            if sl is not None and sl not in ("x",) and not sl.isdigit():
                sl = slice_names.get(sl, sl)
                parts.append(f"{name}:{sl}")
            else:
                parts.append(name + ("[x]" if sl == "x" else ""))
        return ".".join([root] + parts)

    def structure(self, d):
        kind = d["kind"]
        root = "Extension" if kind == "Extension" else self.type_of(d["head"]["Parent"])
        parent = d["head"].get("Parent", "Extension")
        elements = {}
        order = []
        slice_names = {}  # extension name or url -> slice name

        def el(eid):
            if eid not in elements:
                path = re.sub(r":[^.]+", "", eid)
                elements[eid] = {"id": eid, "path": path}
                order.append(eid)
                m = re.search(r":([^.:]+)$", eid)
                if m:
                    elements[eid]["sliceName"] = m.group(1)
            return elements[eid]

        el(root)
        for rule in d["rules"]:
            if rule.startswith(("insert ", "^", ". ")) or re.match(r"^\S+ \^(?!slicing\.)", rule):
                continue
            m = re.match(r"^obeys (\S+)$", rule)
            if m:
                inv = self.by_name.get(m.group(1))
                if inv:
                    el(root).setdefault("constraint", []).append({
                        "key": m.group(1),
                        "severity": inv["head"].get("Severity", "#error").lstrip("#"),
                        "human": inv["head"].get("Description", m.group(1)),
                        "expression": inv["head"]["Expression"],
                    })
                continue
            m = re.match(r"^(\S+) contains (.+)$", rule)
            if m:
                path, items = m.group(1), m.group(2)
                base_id = self.element_id(root, path, slice_names)
                for item in re.split(r"\s+and\s+", items):
                    im = re.match(r"^(\S+)(?: named (\S+))? (\d+)\.\.(\d+|\*)((?: MS| SU)*)$", item.strip())
                    if not im:
                        raise SystemExit(f"{d['name']}: cannot read `contains` item `{item}`")
                    what, named, lo, hi, flags = im.groups()
                    sname = named or what
                    e = el(f"{base_id}:{sname}")
                    e["min"], e["max"] = int(lo), hi
                    if "MS" in flags:
                        e["mustSupport"] = True
                    if named:  # an extension: by name or url
                        slice_names[what] = sname
                        e["type"] = [{"code": "Extension", "profile": [self.url(what)]}]
                continue
            m = re.match(r"^(\S+) \^slicing\.(\S+) = (.+)$", rule)
            if m:
                e = el(self.element_id(root, m.group(1), slice_names))
                s = e.setdefault("slicing", {"discriminator": [{}], "rules": "open"})
                key, val = m.group(2), m.group(3).strip().strip('"').lstrip("#")
                if key.startswith("discriminator."):
                    s["discriminator"][0][key.split(".")[1]] = val
                elif key == "rules":
                    s["rules"] = val
                elif key == "ordered":
                    s["ordered"] = val == "true"
                continue
            m = re.match(r"^(\S+) (\d+)\.\.(\d+|\*)((?: MS| SU)*)$", rule)
            if m:
                e = el(self.element_id(root, m.group(1), slice_names))
                e["min"], e["max"] = int(m.group(2)), m.group(3)
                if "MS" in m.group(4):
                    e["mustSupport"] = True
                continue
            m = re.match(r"^(\S+)((?: MS| SU)+)$", rule)
            if m:
                if "MS" in m.group(2):
                    el(self.element_id(root, m.group(1), slice_names))["mustSupport"] = True
                continue
            m = re.match(r"^(\S+) only (.+)$", rule)
            if m:
                e = el(self.element_id(root, m.group(1), slice_names))
                types = []
                for t in re.split(r"\s+or\s+", m.group(2)):
                    tm = re.match(r"^(\w+)(?:\((.+)\))?$", t.strip())
                    tname, target = tm.group(1), tm.group(2)
                    if target:
                        types.append({"code": tname, "targetProfile": [self.url(x.strip()) for x in target.split("or")]})
                    elif tname in self.by_name:
                        types.append({"code": self.type_of(tname), "profile": [self.url(tname)]})
                    else:
                        types.append({"code": tname})
                e["type"] = types
                continue
            m = re.match(r"^(\S+) from (\S+)(?: \((\w+)\))?$", rule)
            if m:
                e = el(self.element_id(root, m.group(1), slice_names))
                e["binding"] = {"strength": m.group(3) or "required", "valueSet": self.url(m.group(2), "ValueSet")}
                continue
            m = re.match(r"^(\S+) = (.+?)( \(exactly\))?$", rule)
            if m:
                eid = self.element_id(root, m.group(1), slice_names)
                e = el(eid)
                v = m.group(2).strip()
                if v.startswith("#"):
                    e["fixedCode"] = v[1:]
                elif v.startswith('"'):
                    key = "fixedString" if m.group(3) else "patternString"
                    e[key] = v.strip('"')
                else:
                    raise SystemExit(f"{d['name']}: cannot read value `{v}`")
                continue
            raise SystemExit(f"{d['name']}: cannot read rule `{rule}`")
        # `value[x] only code` + `valueCode from ...`: FSH type-specific names -> value[x].
        for eid in list(order):
            m = re.match(r"^(.*\.value)([A-Z]\w*)$", eid)
            if m and m.group(1) + "[x]" in elements:
                target = elements[m.group(1) + "[x]"]
                target.update({k: v for k, v in elements[eid].items() if k not in ("id", "path")})
                order.remove(eid)
                del elements[eid]
        url = self.url(d["name"])
        if kind == "Extension":
            ue = el("Extension.url")
            ue["fixedUri"] = url
        return {
            "resourceType": "StructureDefinition",
            "id": d["head"]["Id"],
            "url": url,
            "name": d["name"],
            "title": d["head"].get("Title", d["name"]),
            "status": "active",
            "fhirVersion": "4.0.1",
            "kind": "complex-type" if kind == "Extension" else "resource",
            "abstract": False,
            "type": root,
            "baseDefinition": self.url(parent) if kind != "Extension" else BASE + "Extension",
            "derivation": "constraint",
            "differential": {"element": [elements[e] for e in order]},
        }

    def code_system(self, d):
        concepts = []
        for rule in d["rules"]:
            m = re.match(r'^#(\S+)\s+"([^"]*)"', rule)
            if m:
                concepts.append({"code": m.group(1), "display": m.group(2)})
        return {"resourceType": "CodeSystem", "id": d["head"]["Id"], "url": self.url(d["name"], "CodeSystem"),
                "name": d["name"], "status": "active", "content": "complete", "concept": concepts}

    def value_set(self, d):
        include = []
        for rule in d["rules"]:
            m = re.match(r"^codes from system (\S+)$", rule)
            if m:
                include.append({"system": self.url(m.group(1), "CodeSystem")})
        return {"resourceType": "ValueSet", "id": d["head"]["Id"], "url": self.url(d["name"], "ValueSet"),
                "name": d["name"], "status": "active", "compose": {"include": include}}


def main():
    src = sys.argv[1]
    here = os.path.dirname(os.path.abspath(__file__))
    dest = os.path.join(here, "..", "crates", "cdex-fhir", "profiles", "backport")
    os.makedirs(dest, exist_ok=True)
    decls = []
    for f in sorted(os.listdir(src)):
        if f.endswith(".fsh"):
            with open(os.path.join(src, f)) as fh:
                decls += blocks(fh.read())
    c = Compiler(decls)
    for d in decls:
        if d["kind"] in ("Profile", "Extension"):
            res = c.structure(d)
        elif d["kind"] == "CodeSystem":
            res = c.code_system(d)
        elif d["kind"] == "ValueSet":
            res = c.value_set(d)
        else:
            continue
        name = f"{res['resourceType']}-{res['id']}.json"
        with open(os.path.join(dest, name), "w") as fh:
            json.dump(res, fh, indent=2)
            fh.write("\n")
        print(name)


if __name__ == "__main__":
    main()
