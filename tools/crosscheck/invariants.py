#!/usr/bin/env python3
"""Cross-check cdex-harness's FHIRPath invariant outcomes against fhirpath.js.

Every invariant that `cdex-harness validate --json --invariants` evaluates (the CDex
profiles' cdex-* and tdr-*, the backport's, and the R4 base's own) is evaluated again by
fhirpath.js (npm fhirpath@5.2.0, HL7's reference JavaScript FHIRPath, with its R4 model) on
the same value, with the same %resource and %rootResource. Corpus:

  - crates/cdex-fhir/tests/validation/examples/*.json, against the CDex profile each is an example of;
  - crates/cdex-fhir/tests/validation/invalid/*.json, each case's resource against its profile;
  - crates/cdex-fhir/benches/data/communications.json, against the 2019 cdex-communication;
  - Task variants whose authoredOn / lastModified / executionPeriod cross each date rule
    (zones, fractions, precisions), the rows where a text comparison goes wrong.

Prints `agree N/M` for the invariants both evaluated, split by which of the project's
evaluators gave the outcome (the fast subset, or the full engine), and one line per
disagreement.

Usage (from the repository root, after `cargo build`):
  npm install --prefix /tmp/xcheck-node fhirpath@5.2.0
  python3 tools/crosscheck/invariants.py [--bin target/debug/cdex-harness]
      [--node-modules /tmp/xcheck-node/node_modules] [-v] [--engine-only]
Exit status: 0 when every disagreement is explained in EXPLAIN, 1 otherwise.
--engine-only has the project's full engine (octofhir-fhirpath) evaluate every invariant,
to see how it alone compares (it always exits 0: the disagreements are its own).
"""

import argparse
import copy
import json
import os
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CDEX = "http://hl7.org/fhir/us/davinci-cdex/StructureDefinition/"
TDR = CDEX + "cdex-task-data-request"
TAR = CDEX + "cdex-task-attachment-request"
COMM = CDEX + "cdex-communication"

# (invariant key, case name prefix) -> why fhirpath.js and the project differ. Measured.
EXPLAIN = {}


def profile_of(r):
    """The profile an example is an instance of (as crates/cdex-fhir/tests/validation.rs tells it)."""
    codes = [c.get("code", "") for c in (r.get("code") or {}).get("coding", [])]
    t = r.get("resourceType")
    if t == "Task" and any(c.startswith("data-request") for c in codes):
        return TDR
    if t == "Task" and any("attachment" in c for c in codes):
        return TAR
    if t == "Parameters":
        return CDEX + "cdex-parameters-submit-attachment"
    if t == "QuestionnaireResponse":
        return CDEX + "cdex-sdc-questionnaireresponse"
    if t == "Subscription":
        return "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/backport-subscription"
    if t == "Bundle" and r.get("type") == "history":
        return "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/backport-subscription-notification-r4"
    if t == "Bundle" and "signature" in r:
        return CDEX + "cdex-signature-bundle"
    return None


DATE_ROWS = [
    ("2020-10-26T02:58:55Z", "2020-10-26T01:58:55-01:00"),
    ("2020-10-26T02:58:55Z", "2020-10-26T03:58:54+01:00"),
    ("2020-10-26T02:58:55.5Z", "2020-10-26T02:58:55Z"),
    ("2020-10-26T02:58:55Z", "2020-10-26T02:58:55.000Z"),
    ("2020-10-26", "2020-10"),
    ("2020-10-26", "2020-10-25"),
    ("2020-10-26", "2020-10-26T00:00:00Z"),
    ("2020-10-26T10:00:00Z", "2020-10-26"),
    ("2021", "2020-12-31"),
]


NS = 'xmlns="http://www.w3.org/1999/xhtml"'
# Narratives that cross txt-1 and txt-2 (htmlChecks()), valid and not.
DIVS = [
    f'<div {NS}><p>Claim <b>123</b>: <a href="https://example.org/x">details</a></p></div>',
    f'<div {NS}><table border="1"><tr><td colspan="2" style="color: red">x</td></tr></table></div>',
    f'<div {NS}><img src="#a1" alt=""/></div>',
    f'<div {NS}>&lt;generated&gt; &#160;</div>',
    f'<div {NS}><a name="top">anchor</a><!-- a comment --></div>',
    f'<div {NS} lang="en" dir="ltr"><h1 title="t">x</h1><pre>y</pre><hr/></div>',
    f'<div {NS}><script>alert(1)</script>x</div>',
    f'<div {NS}><p onclick="alert(1)">x</p></div>',
    f'<div {NS}><iframe src="https://example.org"/>x</div>',
    f'<div {NS}><ins>x</ins></div>',
    f'<div {NS}><u>x</u></div>',
    f'<div {NS}><map name="m"><area href="#a" alt=""/></map>x</div>',
    f'<div {NS}>a&nbsp;b</div>',
    f'<div {NS}><![CDATA[x]]></div>',
    f'<div {NS}><p>x</div>',
    f'<div {NS}><p xmlns="urn:other">x</p></div>',
    f'<?xml version="1.0"?><div {NS}>x</div>',
    f'<div {NS}><p xml:lang="en">x</p></div>',
    f'<div {NS}><img alt="no source"/></div>',
    f'<div {NS}>\n  <p> </p>\n</div>',
    f'<div {NS}/>',
    '<div>no namespace</div>',
    f'<span {NS}>not a div</span>',
]


def corpus():
    """[(name, resource, profile or None)]"""
    items = []
    for f in sorted((ROOT / "crates/cdex-fhir/tests/validation/examples").glob("*.json")):
        r = json.loads(f.read_text())
        items.append((f.name, r, profile_of(r)))
    for f in sorted((ROOT / "crates/cdex-fhir/tests/validation/invalid").glob("*.json")):
        case = json.loads(f.read_text())
        items.append((f.name, case["resource"], case.get("profile")))
    comms = json.loads((ROOT / "crates/cdex-fhir/benches/data/communications.json").read_text())
    for i, c in enumerate(comms):
        items.append((f"benchmark-communication-{i}", c, COMM))
    task = json.loads((ROOT / "crates/cdex-fhir/tests/validation/examples/cdex-task-example1.json").read_text())
    for a, m in DATE_ROWS:
        t = copy.deepcopy(task)
        t["authoredOn"], t["lastModified"] = a, m
        t["executionPeriod"] = {"start": a, "end": m}
        items.append((f"dates {a} / {m}", t, TDR))
    for i, div in enumerate(DIVS):
        t = copy.deepcopy(task)
        t["text"] = {"status": "generated", "div": div}
        items.append((f"narrative {i}: {div}", t, TDR))
    return items


def run_harness(binary, items, by):
    """Each item's invariants, as `validate --json --invariants` lists them, and its
    narrative verdicts: {location of a div: the txt-* keys of its errors}."""
    out = [None] * len(items)
    narratives = [None] * len(items)
    groups = {}
    for i, (_, _, profile) in enumerate(items):
        groups.setdefault(profile, []).append(i)
    with tempfile.TemporaryDirectory() as d:
        for profile, idx in groups.items():
            files = []
            for i in idx:
                p = Path(d) / f"case-{i}.json"
                p.write_text(json.dumps(items[i][1]))
                files.append(str(p))
            cmd = [binary, "validate", "--json", "--invariants", "--invariants-by", by, *files]
            if profile:
                cmd[2:2] = ["--profile", profile]
            p = subprocess.run(cmd, capture_output=True, text=True)
            if p.returncode not in (0, 1):
                sys.exit(f"cdex-harness validate failed ({p.returncode}): {p.stderr}")
            for report in json.loads(p.stdout):
                i = int(Path(report["file"]).stem.split("-")[1])
                out[i] = report["invariants"]
                found = {}
                for issue in report["outcome"]["issue"]:
                    # txt-1 and txt-2, and the xhtml format check that comes before them
                    # (a narrative that does not start with `<div` is not checked further).
                    text = issue.get("diagnostics", "")
                    at = (issue.get("expression") or [""])[0]
                    if issue["severity"] == "error" and at.endswith(".text.div"):
                        key = text.split(":")[0] if text.startswith("txt-") else "xhtml"
                        found.setdefault(at, set()).add(key)
                narratives[i] = found
    return out, narratives


def divs(value, location):
    """Every narrative in a resource (also in contained resources and Bundle entries):
    [(location, text object)]."""
    out = []
    if isinstance(value, dict):
        if isinstance(value.get("text"), dict) and "div" in value["text"]:
            out.append((location + ".text.div", value["text"]))
        for k, v in value.items():
            if isinstance(v, list):
                for i, x in enumerate(v):
                    out += divs(x, f"{location}.{k}[{i}]")
            elif isinstance(v, dict) and k != "text":
                out += divs(v, f"{location}.{k}")
    return out


def run_fhirpath_js(node_modules, items, invariants):
    cases = [{"resource": r, "invariants": inv,
              "narratives": [t for _, t in divs(r, r.get("resourceType", ""))]}
             for (_, r, _), inv in zip(items, invariants)]
    script = Path(__file__).with_name("fhirpath_invariants.js")
    p = subprocess.run(["node", str(script)], input=json.dumps(cases), capture_output=True,
                       text=True, env={**os.environ, "NODE_PATH": str(node_modules)})
    if p.returncode != 0:
        sys.exit(f"fhirpath.js failed: {p.stderr}")
    doc = json.loads(p.stdout)
    return doc["out"], doc["narratives"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=str(ROOT / "target/debug/cdex-harness"))
    ap.add_argument("--node-modules", default="/tmp/xcheck-node/node_modules")
    ap.add_argument("-v", action="store_true", help="print every comparison")
    ap.add_argument("--engine-only", action="store_true",
                    help="the project's full engine for every invariant (--invariants-by engine)")
    args = ap.parse_args()
    items = corpus()
    ours, our_narratives = run_harness(args.bin, items, "engine" if args.engine_only else "subset")
    theirs, their_narratives = run_fhirpath_js(args.node_modules, items, ours)

    agree = Counter()
    total = Counter()
    not_compared = Counter()
    unexplained = []
    for (name, _, _), mine, js in zip(items, ours, theirs):
        for inv, other in zip(mine, js):
            by = "subset" if inv["by_subset"] else "engine"
            ours_o = inv["outcome"] if isinstance(inv["outcome"], str) else "not-evaluated"
            if ours_o not in ("holds", "fails") or other not in ("holds", "fails"):
                not_compared[f"{inv['key']}: ours {ours_o}, fhirpath.js {other}"] += 1
                continue
            total[by] += 1
            same = ours_o == other
            agree[by] += same
            line = f"{name}: {inv['key']} at {inv['location']} ({by}): ours {ours_o}, fhirpath.js {other}"
            if args.v:
                print(("  " if same else "! ") + line)
            if not same:
                why = next((w for (k, prefix), w in EXPLAIN.items()
                            if k == inv["key"] and name.startswith(prefix)), None)
                if why:
                    print(f"explained: {line}: {why}")
                else:
                    unexplained.append(line)
    # txt-1 and txt-2: ours natively, fhirpath.js by htmlChecks(); compared per narrative.
    n_agree = n_total = 0
    for (name, r, _), mine, js in zip(items, our_narratives, their_narratives):
        for (location, _), other in zip(divs(r, r.get("resourceType", "")), js):
            ours_o = "fails" if mine.get(location) else "holds"
            n_total += 1
            n_agree += ours_o == other
            line = f"{name}: htmlChecks() at {location}: ours {ours_o} {sorted(mine.get(location, []))}, fhirpath.js {other}"
            if args.v:
                print(("  " if ours_o == other else "! ") + line)
            if ours_o != other:
                why = next((w for (k, prefix), w in EXPLAIN.items()
                            if k == "htmlChecks" and name.startswith(prefix)), None)
                if why:
                    print(f"explained: {line}: {why}")
                else:
                    unexplained.append(line)

    cases = len(items)
    print(f"narratives (txt-1, txt-2 by htmlChecks()): agree {n_agree}/{n_total}")
    print(f"{cases} cases, {sum(total.values())} invariant evaluations compared")
    for by in ("subset", "engine"):
        print(f"  by the {by}: agree {agree[by]}/{total[by]}")
    for what, n in sorted(not_compared.items()):
        print(f"  not compared ({n}x): {what}")
    for line in unexplained:
        print(f"DISAGREE {line}")
    sys.exit(1 if unexplained and not args.engine_only else 0)


if __name__ == "__main__":
    main()
