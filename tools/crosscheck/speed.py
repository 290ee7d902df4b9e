#!/usr/bin/env python3
"""Side-by-side speed: cdex-harness's validator vs the independent validators, same resources,
same run, one thread each.

Resources: the benchmark's set (crates/cdex-fhir/benches/validate.rs): the 31 crates/cdex-fhir/tests/validation/examples/
cdex-task-example*.json Tasks and the 8 generated Communications (copied below verbatim).

  (a) cdex-harness
      a1  `cargo bench -j 1 -p cdex-fhir --bench validate -- --seconds S` (release `bench` profile; Tasks
          against Task Data/Attachment Request, Communications against the 2019
          cdex-communication: base R4 + profile; parsed JSON, invariants off; also prints the
          Tasks with invariants). Skipped with --no-cargo-bench.
      a2  the CLI `cdex-harness validate DIR` (--bin, release if built) on a folder holding
          --copies copies of every resource, no --profile: R4 base only, the same scope as
          (b); timed as wall clock, so process start, file reading and JSON parsing are in.
  (b) fhir.resources (pydantic, R4B models) `model_validate` on the parsed dicts, in process,
      --rounds rounds over the set (base structure only).
  (c) FHIR.js (npm fhir 4.12.0) `Fhir().validate` in node, in process, --rounds rounds
      (optional: needs /tmp/xcheck-node).

Prints resources/s for each and the ratios a/b (and a/c). Note the scopes: a1 does more work
per resource (base + profile) than b and c (base only); a2 matches their scope but pays for
reading and parsing files and starting the process.

Usage (from the repository root):
  /tmp/xcheck-venv/bin/python tools/crosscheck/speed.py [--bin target/release/cdex-harness]
      [--rounds 20] [--seconds 3] [--copies 100] [--no-cargo-bench] [--no-fhirjs]
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def tasks():
    files = sorted((ROOT / "crates/cdex-fhir/tests/validation/examples").glob("cdex-task-example*.json"))
    return [json.loads(f.read_text()) for f in files]


def communications():
    # The benchmark's own set (benches/validate.rs reads the same file).
    return json.loads((ROOT / "crates/cdex-fhir/benches/data/communications.json").read_text())


def cargo_bench(seconds):
    """a1: {group: resources/s} parsed from the benchmark's output."""
    p = subprocess.run(["cargo", "bench", "-j", "1", "-p", "cdex-fhir", "--bench", "validate", "--",
                        "--seconds", str(seconds)], cwd=ROOT, capture_output=True, text=True)
    if p.returncode != 0:
        print(p.stderr[-2000:], file=sys.stderr)
        return None
    out = {}
    for line in p.stdout.splitlines():
        m = re.match(r"(tasks|communications)( with invariants)?: .* = (\d+) resources/s", line)
        if m:
            out[m.group(1) + (m.group(2) or "")] = float(m.group(3))
        m = re.match(r"overall( with invariants)?: (\d+) resources/s", line)
        if m:
            out["overall" + (m.group(1) or "")] = float(m.group(2))
    return out


def cli(binary, group, copies):
    """a2: resources/s of `cdex-harness validate DIR` over copies of the group (base only)."""
    tmp = Path(tempfile.mkdtemp(prefix="xcheck-speed-"))
    try:
        for k in range(copies):
            for j, r in enumerate(group):
                (tmp / f"r{k:04d}-{j:03d}.json").write_text(json.dumps(r))
        n = copies * len(group)
        t0 = time.perf_counter()
        p = subprocess.run([str(binary), "validate", str(tmp)], capture_output=True, text=True)
        t = time.perf_counter() - t0
        if p.returncode != 0:
            sys.exit(f"cdex-harness validate reported errors on the benchmark set:\n{p.stdout[-2000:]}")
        return n / t
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def pydantic(group, rounds):
    """b: resources/s of fhir.resources R4B model_validate on parsed dicts."""
    from fhir.resources.R4B import get_fhir_model_class
    classes = [get_fhir_model_class(r["resourceType"]) for r in group]
    for cls, r in zip(classes, group):  # warm-up, and the set must be valid
        cls.model_validate(r)
    t0 = time.perf_counter()
    for _ in range(rounds):
        for cls, r in zip(classes, group):
            cls.model_validate(r)
    return rounds * len(group) / (time.perf_counter() - t0)


def fhirjs(node_modules, group, rounds):
    """c: resources/s of FHIR.js Fhir().validate in node, or None."""
    if not shutil.which("node") or not (Path(node_modules) / "fhir").is_dir():
        return None
    p = subprocess.run(["node", str(Path(__file__).with_name("fhirjs_validate.js")),
                        "--bench", str(rounds)],
                       input=json.dumps([[str(i), r] for i, r in enumerate(group)]),
                       capture_output=True, text=True,
                       env={**os.environ, "NODE_PATH": str(node_modules)})
    if p.returncode != 0:
        sys.exit(p.stderr)
    d = json.loads(p.stdout)
    return d["resources"] / d["seconds"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    default_bin = ROOT / "target/release/cdex-harness"
    if not default_bin.exists():
        default_bin = ROOT / "target/debug/cdex-harness"
    ap.add_argument("--bin", default=str(default_bin))
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--seconds", type=int, default=3)
    ap.add_argument("--copies", type=int, default=100)
    ap.add_argument("--node-modules", default="/tmp/xcheck-node/node_modules")
    ap.add_argument("--no-cargo-bench", action="store_true")
    ap.add_argument("--no-fhirjs", action="store_true")
    args = ap.parse_args()

    groups = {"tasks": tasks(), "communications": communications()}
    print(f"set: {len(groups['tasks'])} Tasks, {len(groups['communications'])} Communications; "
          f"CLI binary: {args.bin}")

    a1 = None if args.no_cargo_bench else cargo_bench(args.seconds)
    rows = {}
    for name, g in groups.items():
        rows[name] = {
            "a1": (a1 or {}).get(name),
            "a2": cli(args.bin, g, args.copies),
            "b": pydantic(g, args.rounds),
            "c": None if args.no_fhirjs else fhirjs(args.node_modules, g, args.rounds),
        }
    # "overall" as the benchmark defines it: equal time on each group, so the mean of the two
    # groups' rates; computed the same way for every column.
    rows["overall"] = {k: (a1 or {}).get("overall") if k == "a1" else
                       (rows["tasks"][k] + rows["communications"][k]) / 2
                       if rows["tasks"][k] and rows["communications"][k] else None
                       for k in ("a1", "a2", "b", "c")}

    f = lambda x: f"{x:10.0f}" if x else f"{'-':>10}"
    r = lambda x, y: f"{x / y:8.1f}x" if x and y else f"{'-':>9}"
    print()
    print(f"{'resources/s':15} {'a1 bench':>10} {'a2 CLI':>10} {'b pydantic':>10} "
          f"{'c FHIR.js':>10} {'a1/b':>9} {'a2/b':>9} {'a1/c':>9} {'a2/c':>9}")
    for name, x in rows.items():
        print(f"{name:15} {f(x['a1'])} {f(x['a2'])} {f(x['b'])} {f(x['c'])} "
              f"{r(x['a1'], x['b'])} {r(x['a2'], x['b'])} {r(x['a1'], x['c'])} {r(x['a2'], x['c'])}")
    if a1 and "overall with invariants" in a1:
        # a1 again with the FHIRPath invariants (cdex-*, tdr-*, the base's own); b and c
        # evaluate none, so the ratios compare more work with less.
        print()
        for name in ("tasks", "communications", "overall"):
            x, b, c = a1.get(f"{name} with invariants"), rows[name]["b"], rows[name]["c"]
            print(f"{name + ' +inv':15} {f(x)} {f(None)} {f(b)} {f(c)} {r(x, b)} {r(None, b)} "
                  f"{r(x, c)} {r(None, c)}")
    print("a1: base + CDex profile, parsed JSON, release bench profile; a2: base only, files, "
          "process start included; b, c: base only, parsed JSON, in process.")


if __name__ == "__main__":
    main()
