#!/usr/bin/env python3
"""Plots the panels of docs/grafana-dashboard.json from scraped /metrics text.

    python3 scripts/plot-metrics.py SCRAPES PNG

SCRAPES holds scrapes one after the other, each headed `### <unix seconds>` (what
scripts/metrics-run.sh writes). Rates and quantiles are computed over a 10 s window as
Prometheus' rate() and histogram_quantile() would, from the same series names.
"""

import math
import re
import sys
from collections import defaultdict

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

WINDOW = 10.0  # seconds, like [10s] in PromQL
LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def parse(path):
    """[(t, {(name, frozenset(labels)): value})]"""
    scrapes, cur, t = [], None, None
    for line in open(path, encoding="utf-8"):
        line = line.rstrip("\n")
        if line.startswith("### "):
            if cur:
                scrapes.append((t, cur))
            t, cur = float(line[4:]), {}
            continue
        if not line or line.startswith("#") or cur is None:
            continue
        head, _, value = line.rpartition(" ")
        if "{" in head:
            name, rest = head.split("{", 1)
            labels = frozenset(LABEL.findall(rest))
        else:
            name, labels = head, frozenset()
        cur[(name, labels)] = float(value)
    if cur:
        scrapes.append((t, cur))
    return scrapes


def select(sample, name, by, where=None):
    """Sum of `name` grouped by the labels in `by` -> {group: value}."""
    out = defaultdict(float)
    for (n, labels), v in sample.items():
        if n != name:
            continue
        d = dict(labels)
        if where and any(d.get(k) != v2 for k, v2 in where.items()):
            continue
        out[tuple(d.get(b, "") for b in by)] += v
    return out


def window_pairs(scrapes):
    """For each scrape, the earlier one about WINDOW seconds before it."""
    j = 0
    for i, (t, s) in enumerate(scrapes):
        while j < i and t - scrapes[j][0] > WINDOW + 0.5:
            j += 1
        if j < i:
            yield t, scrapes[j], (t, s)


def rate(scrapes, name, by, where=None):
    """{group: ([t], [per-second])}"""
    series = defaultdict(lambda: ([], []))
    for t, (t0, s0), (t1, s1) in window_pairs(scrapes):
        a, b = select(s0, name, by, where), select(s1, name, by, where)
        for g in b:
            d = b[g] - a.get(g, 0.0)
            series[g][0].append(t)
            series[g][1].append(max(d, 0.0) / (t1 - t0))
    return series


def quantile(q, buckets):
    """histogram_quantile over [(le, cumulative count)]."""
    buckets = sorted(buckets)
    total = buckets[-1][1] if buckets else 0
    if total <= 0:
        return math.nan
    rank = q * total
    prev_le, prev_c = 0.0, 0.0
    for le, c in buckets:
        if c >= rank:
            if math.isinf(le):
                return prev_le
            return prev_le + (le - prev_le) * (rank - prev_c) / max(c - prev_c, 1e-12)
        prev_le, prev_c = le, c
    return prev_le


def hist_quantile(scrapes, name, q, by, where=None):
    series = defaultdict(lambda: ([], []))
    for t, (_, s0), (_, s1) in window_pairs(scrapes):
        a = select(s0, name + "_bucket", by + ["le"], where)
        b = select(s1, name + "_bucket", by + ["le"], where)
        groups = defaultdict(list)
        for key, v in b.items():
            groups[key[:-1]].append((float(key[-1]), v - a.get(key, 0.0)))
        for g, bk in groups.items():
            series[g][0].append(t)
            series[g][1].append(quantile(q, bk))
    return series


def gauge(scrapes, name, by, where=None):
    series = defaultdict(lambda: ([], []))
    for t, s in scrapes:
        for g, v in select(s, name, by, where).items():
            series[g][0].append(t)
            series[g][1].append(v)
    return series


def draw(ax, series, title, unit, scale=1.0, top=None, label=None):
    items = sorted(series.items(), key=lambda kv: -sum(x for x in kv[1][1] if not math.isnan(x)))
    if top:
        items = items[:top]
    for g, (ts, vs) in items:
        name = label(g) if label else " ".join(x for x in g if x) or "all"
        ax.plot([t - T0 for t in ts], [v * scale for v in vs], label=name, linewidth=1.4)
    ax.set_title(title, fontsize=10)
    ax.set_ylabel(unit, fontsize=8)
    ax.tick_params(labelsize=7)
    ax.grid(alpha=0.3)
    if items:
        ax.legend(fontsize=6.5, loc="upper left")


def main(src, png):
    global T0
    scrapes = parse(src)
    if len(scrapes) < 3:
        sys.exit(f"{src}: only {len(scrapes)} scrapes")
    T0 = scrapes[0][0]
    fig, axes = plt.subplots(4, 2, figsize=(13, 13), constrained_layout=True)
    ax = axes.flat
    short = lambda g: g[0].replace("/api/v1", "") or "/"  # noqa: E731
    draw(next(ax), rate(scrapes, "doorplate_http_requests_total", ["route"]),
         "Requests per second by route (top 6)", "req/s", top=6, label=short)
    draw(next(ax), hist_quantile(scrapes, "doorplate_http_request_duration_seconds", 0.99, ["route"]),
         "p99 request latency by route (top 5)", "ms", scale=1000, top=5, label=short)
    a = next(ax)
    stored = rate(scrapes, "doorplate_messages_stored_total", ["school"])
    hints = rate(scrapes, "doorplate_hints_sent_total", ["school"])
    draw(a, {("messages stored " + g[0],): v for g, v in stored.items()}
         | {("hints sent " + g[0],): v for g, v in hints.items()},
         "Messages stored and hints sent per second", "per s")
    draw(next(ax), gauge(scrapes, "doorplate_live_sockets", ["kind"]), "Live event sockets by kind", "sockets")
    a = next(ax)
    p50 = hist_quantile(scrapes, "doorplate_store_commit_seconds", 0.5, ["school"])
    p99 = hist_quantile(scrapes, "doorplate_store_commit_seconds", 0.99, ["school"])
    draw(a, {("p50 " + g[0],): v for g, v in p50.items()} | {("p99 " + g[0],): v for g, v in p99.items()},
         "Store commit latency (BEGIN to COMMIT)", "ms", scale=1000)
    a = next(ax)
    s_rate = rate(scrapes, "doorplate_store_batch_size_sum", ["school"])
    c_rate = rate(scrapes, "doorplate_store_batch_size_count", ["school"])
    mean = {}
    for g, (ts, vs) in s_rate.items():
        cs = c_rate[g][1]
        mean[("mean " + g[0],)] = (ts, [v / c if c else math.nan for v, c in zip(vs, cs)])
    p99b = hist_quantile(scrapes, "doorplate_store_batch_size", 0.99, ["school"])
    draw(a, mean | {("p99 " + g[0],): v for g, v in p99b.items()}, "Writes per commit (group commit batch)", "writes")
    draw(next(ax), gauge(scrapes, "doorplate_store_writer_queue", ["school"]), "Writer queue depth", "writes waiting")
    a = next(ax)
    pres = gauge(scrapes, "doorplate_presences", ["source"])
    sess = gauge(scrapes, "doorplate_personal_sessions", [])
    draw(a, {(g[0],): v for g, v in pres.items()} | {("personal sessions",): v for v in sess.values()},
         "Presences by source, personal sessions", "count")
    for a in axes[-1]:
        a.set_xlabel("seconds since the first scrape", fontsize=8)
    last = scrapes[-1][1]
    schools = select(last, "doorplate_schools_hosted", [])
    throttled = select(last, "doorplate_throttled_attempts_total", [])
    fig.suptitle(
        "Doorplate /metrics under doorplate-load, scraped every 2 s "
        f"(schools hosted: {int(sum(schools.values()))}, throttled attempts: {int(sum(throttled.values()))})",
        fontsize=11,
    )
    fig.savefig(png, dpi=90)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
