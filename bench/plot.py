#!/usr/bin/env python3
"""Query latency against population size, CareCommons (solid) and the plain-SQL baseline (dashed),
one colour per query, both axes logarithmic: an SVG written with the standard library only.

    bench/plot.py RESULTS.csv OUT.svg

RESULTS.csv is bench/run.sh's query.csv (members,query,system,p50_ms,p95_ms,cached_ms)."""
import csv
import math
import sys

COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf"]
W, H = 900, 560
LEFT, RIGHT, TOP, BOTTOM = 80, 250, 50, 60


def esc(s):
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def ticks(lo, hi):
    """Powers of ten (and 2x, 5x when the range is short) covering [lo, hi]."""
    out = []
    e = math.floor(math.log10(lo))
    while 10 ** e <= hi * 1.0001:
        for m in (1, 2, 5) if math.log10(hi / lo) < 3 else (1,):
            v = m * 10 ** e
            if lo / 1.0001 <= v <= hi * 1.0001:
                out.append(v)
        e += 1
    return out


def label(v, unit=""):
    if v >= 1e6:
        return "%gM%s" % (v / 1e6, unit)
    if v >= 1e3:
        return "%gk%s" % (v / 1e3, unit)
    return "%g%s" % (v, unit)


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    rows = list(csv.DictReader(open(sys.argv[1])))
    if not rows:
        sys.exit("plot.py: no rows in " + sys.argv[1])
    series = {}
    for r in rows:
        if r["p50_ms"]:  # empty: the run failed at that size (e.g. a statement timeout)
            series.setdefault((r["query"], r["system"]), []).append((int(r["members"]), float(r["p50_ms"])))
    if not series:
        sys.exit("plot.py: no measured rows in " + sys.argv[1])
    queries = sorted({q for q, _ in series})
    xs = [n for pts in series.values() for n, _ in pts]
    ys = [max(v, 0.1) for pts in series.values() for _, v in pts]
    xlo, xhi = min(xs), max(xs)
    if xlo == xhi:
        xlo, xhi = xlo / 2, xhi * 2
    xlo, xhi = 10 ** math.floor(math.log10(xlo)), 10 ** math.ceil(math.log10(xhi))
    ylo, yhi = 10 ** math.floor(math.log10(min(ys))), 10 ** math.ceil(math.log10(max(ys)))
    if ylo == yhi:
        yhi *= 10
    pw, ph = W - LEFT - RIGHT, H - TOP - BOTTOM

    def px(n):
        return LEFT + pw * (math.log10(n) - math.log10(xlo)) / (math.log10(xhi) - math.log10(xlo))

    def py(v):
        v = max(v, ylo)
        return TOP + ph * (1 - (math.log10(v) - math.log10(ylo)) / (math.log10(yhi) - math.log10(ylo)))

    svg = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" '
           'font-family="sans-serif" font-size="12">' % (W, H, W, H),
           '<rect width="100%" height="100%" fill="white"/>',
           '<text x="%d" y="24" font-size="15" font-weight="bold">Query latency (p50, uncached) against '
           'population size</text>' % LEFT]
    for v in ticks(ylo, yhi):
        y = py(v)
        svg.append('<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#ddd"/>' % (LEFT, y, LEFT + pw, y))
        svg.append('<text x="%d" y="%.1f" text-anchor="end">%s</text>' % (LEFT - 6, y + 4, label(v, " ms")))
    for v in ticks(xlo, xhi):
        x = px(v)
        svg.append('<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#ddd"/>' % (x, TOP, x, TOP + ph))
        svg.append('<text x="%.1f" y="%d" text-anchor="middle">%s</text>' % (x, TOP + ph + 18, label(v)))
    svg.append('<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="#444"/>' % (LEFT, TOP, pw, ph))
    svg.append('<text x="%d" y="%d" text-anchor="middle">members</text>' % (LEFT + pw / 2, H - 18))
    svg.append('<text transform="translate(20 %d) rotate(-90)" text-anchor="middle">p50 latency</text>'
               % (TOP + ph / 2))
    ly = TOP + 10
    for i, q in enumerate(queries):
        colour = COLOURS[i % len(COLOURS)]
        for system, dash in (("carecommons", ""), ("baseline", ' stroke-dasharray="6 4"')):
            pts = sorted(series.get((q, system), []))
            if not pts:
                continue
            path = " ".join("%.1f,%.1f" % (px(n), py(v)) for n, v in pts)
            svg.append('<polyline points="%s" fill="none" stroke="%s" stroke-width="2"%s/>' % (path, colour, dash))
            for n, v in pts:
                svg.append('<circle cx="%.1f" cy="%.1f" r="3" fill="%s"/>' % (px(n), py(v), colour))
        svg.append('<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="2"/>'
                   % (LEFT + pw + 15, ly, LEFT + pw + 40, ly, colour))
        svg.append('<text x="%d" y="%d">%s</text>' % (LEFT + pw + 46, ly + 4, esc(q)))
        ly += 20
    ly += 10
    svg.append('<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#444" stroke-width="2"/>'
               % (LEFT + pw + 15, ly, LEFT + pw + 40, ly))
    svg.append('<text x="%d" y="%d">CareCommons API</text>' % (LEFT + pw + 46, ly + 4))
    ly += 20
    svg.append('<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#444" stroke-width="2" stroke-dasharray="6 4"/>'
               % (LEFT + pw + 15, ly, LEFT + pw + 40, ly))
    svg.append('<text x="%d" y="%d">plain SQL baseline</text>' % (LEFT + pw + 46, ly + 4))
    svg.append("</svg>")
    with open(sys.argv[2], "w") as f:
        f.write("\n".join(svg) + "\n")


if __name__ == "__main__":
    main()
