#!/usr/bin/env python3
"""Draw the scaling bench's table (benches/scale/run.sh) as a small SVG: wall time and peak
RSS of `check` and `run` against the number of scenarios, log-log, with a dashed line of
slope 1 (linear growth) through each series' last point.

    plot.py scale.tsv out.svg
"""
import csv
import math
import sys

rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
ns = [int(r["scenarios"]) for r in rows]
panels = [
    ("wall time (s)", [("check", "check_s", "#1f77b4"), ("run", "run_s", "#d62728")]),
    ("peak RSS (MiB)", [("check", "check_mib", "#1f77b4"), ("run", "run_mib", "#d62728")]),
]
W, H, PAD = 340, 260, 48
out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{2 * W}" height="{H}" font-family="sans-serif" font-size="11">',
       f'<rect width="{2 * W}" height="{H}" fill="white"/>']
for p, (title, series) in enumerate(panels):
    x0 = p * W
    values = [float(r[k]) for _, k, _ in series for r in rows]
    lo_y = 10 ** math.floor(math.log10(max(min(values), 1e-3)))
    hi_y = 10 ** math.ceil(math.log10(max(values)))
    lo_x = 10 ** math.floor(math.log10(min(ns)))
    hi_x = 10 ** math.ceil(math.log10(max(ns)))
    if hi_x == lo_x:
        hi_x *= 10
    if hi_y == lo_y:
        hi_y *= 10

    def X(n):
        return x0 + PAD + (math.log10(n) - math.log10(lo_x)) / (math.log10(hi_x) - math.log10(lo_x)) * (W - 2 * PAD)

    def Y(v):
        v = max(v, lo_y)
        return H - PAD - (math.log10(v) - math.log10(lo_y)) / (math.log10(hi_y) - math.log10(lo_y)) * (H - 2 * PAD)

    out.append(f'<text x="{x0 + W / 2}" y="16" text-anchor="middle" font-weight="bold">{title} vs scenarios (log-log)</text>')
    out.append(f'<rect x="{x0 + PAD}" y="{PAD}" width="{W - 2 * PAD}" height="{H - 2 * PAD}" fill="none" stroke="#999"/>')
    d = lo_x
    while d <= hi_x:
        out.append(f'<text x="{X(d)}" y="{H - PAD + 14}" text-anchor="middle">{d:g}</text>')
        d *= 10
    d = lo_y
    while d <= hi_y:
        out.append(f'<text x="{x0 + PAD - 4}" y="{Y(d) + 4}" text-anchor="end">{d:g}</text>')
        d *= 10
    for i, (name, key, colour) in enumerate(series):
        pts = [(X(n), Y(float(r[key]))) for n, r in zip(ns, rows)]
        out.append('<polyline fill="none" stroke="%s" stroke-width="2" points="%s"/>' % (colour, " ".join(f"{x:.1f},{y:.1f}" for x, y in pts)))
        for x, y in pts:
            out.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{colour}"/>')
        # slope 1 through the last point: where linear growth would be
        n1, v1 = ns[-1], float(rows[-1][key])
        ref = [(X(n), Y(v1 * n / n1)) for n in ns]
        out.append('<polyline fill="none" stroke="%s" stroke-dasharray="4 3" stroke-width="1" points="%s"/>' % (colour, " ".join(f"{x:.1f},{y:.1f}" for x, y in ref)))
        out.append(f'<text x="{x0 + PAD + 8}" y="{PAD + 14 + 14 * i}" fill="{colour}">{name}</text>')
    out.append(f'<text x="{x0 + PAD + 60}" y="{PAD + 14}" fill="#555">dashed: linear</text>')
out.append("</svg>")
open(sys.argv[2], "w").write("\n".join(out) + "\n")
