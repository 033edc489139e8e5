"""`ctsync report`: one self-contained HTML page about the sync, charts included.

No CDN, no external file: the charts are SVG drawn here, the little interactivity (hover
details, the "rendered" marker a headless-browser test looks for) is inline JavaScript, so
the page opens the same on a laptop, in CI artifacts or attached to an incident ticket.
Data comes from the audit tables (`ctsync.*`), read-only.
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from ctsync.app.status import open_read_only
from ctsync.core.config import audit_schema
from ctsync.core.names import OBJECTS, RecordOutcome, RunStatus

COLOURS: dict[str, str] = {
    RunStatus.SUCCEEDED: "#2e9d5b",
    RunStatus.SUCCEEDED_WITH_REJECTIONS: "#8bbf3f",
    RunStatus.DRY_RUN: "#7aa6d8",
    RunStatus.PARTIAL: "#e0a526",
    RunStatus.INTERRUPTED: "#b0b0b0",
    RunStatus.RUNNING: "#5b8def",
    RunStatus.FAILED: "#d9534f",
    RunStatus.AUTH_ERROR: "#a8322d",
    RunStatus.ABANDONED: "#8a8a8a",
}
OUTCOME_COLOURS: dict[str, str] = {
    RecordOutcome.SUCCEEDED: "#2e9d5b",
    RecordOutcome.REJECTED: "#d9534f",
    RecordOutcome.FAILED: "#e0a526",
}
LATENCY_BUCKETS = [1, 2, 5, 10, 30, 60, 120, 300, 900, 3600, 4 * 3600, 24 * 3600]


@dataclass
class ReportData:
    generated_at: datetime
    warehouse: Path
    runs: list[tuple[str, str, str, datetime, float | None, int, int]] = field(
        default_factory=list
    )  # run_id, trigger, status, started_at, seconds, succeeded, rejected
    records: list[tuple[str, str, str, int]] = field(default_factory=list)
    # object, operation, outcome, count
    rejections: list[tuple[str, str, int]] = field(default_factory=list)  # object, reason, open
    latencies: list[float] = field(default_factory=list)
    latency_by_object: list[tuple[str, int, float, float]] = field(default_factory=list)


def collect(warehouse: Path, max_runs: int = 60, max_latencies: int = 200_000) -> ReportData:
    data = ReportData(datetime.now(UTC).replace(tzinfo=None), warehouse)
    con = open_read_only(warehouse)
    try:
        present = con.execute(
            "select count(*) from information_schema.tables where table_schema = ? "
            "and table_name = 'sync_runs'",
            [audit_schema()],
        ).fetchone()
        if not present or not present[0]:
            return data
        s = audit_schema()
        rows = con.execute(
            f"select run_id, trigger, status, started_at, "
            f"date_diff('millisecond', started_at, finished_at) / 1000.0, "
            f"coalesce(succeeded_count, 0), coalesce(rejected_count, 0) "
            f"from {s}.sync_runs order by started_at desc limit ?",
            [max_runs],
        ).fetchall()
        data.runs = [tuple(r) for r in reversed(rows)]
        data.records = [
            tuple(r)
            for r in con.execute(
                f"select object, operation, outcome, count(*) from {s}.sync_changelog "
                f"group by object, operation, outcome order by object, operation, outcome"
            ).fetchall()
        ]
        data.rejections = [
            tuple(r)
            for r in con.execute(
                f"select object, reason_code, count(*) from {s}.sync_rejections "
                f"where resolved_at is null group by object, reason_code "
                f"order by 3 desc, 1, 2 limit 20"
            ).fetchall()
        ]
        latency_sql = (
            f"select object, date_diff('millisecond', source_updated_at, attempted_at) / 1000.0 "
            f"as seconds from {s}.sync_changelog where outcome = 'succeeded' "
            f"and source_updated_at is not null"
        )
        data.latencies = [
            float(r[0])
            for r in con.execute(
                f"select seconds from ({latency_sql}) using sample {max_latencies} rows"
            ).fetchall()
        ]
        data.latency_by_object = [
            (r[0], int(r[1]), float(r[2]), float(r[3]))
            for r in con.execute(
                f"select object, count(*), quantile_cont(seconds, 0.5), "
                f"quantile_cont(seconds, 0.95) from ({latency_sql}) group by object order by 1"
            ).fetchall()
        ]
    finally:
        con.close()
    return data


def write_report(warehouse: Path, out: Path) -> ReportData:
    data = collect(warehouse)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render(data), encoding="utf-8")
    return data


# -- rendering -------------------------------------------------------------------------------


def e(value: object) -> str:
    return html.escape(str(value), quote=True)


def render(data: ReportData) -> str:
    delivered = (RunStatus.SUCCEEDED, RunStatus.SUCCEEDED_WITH_REJECTIONS)
    ok = sum(1 for r in data.runs if r[2] in delivered)
    sent = sum(r[3] for r in data.records if r[2] == RecordOutcome.SUCCEEDED)
    open_rejections = sum(r[2] for r in data.rejections)
    p50, p95 = _quantile(data.latencies, 0.5), _quantile(data.latencies, 0.95)
    tiles = [
        ("runs shown", str(len(data.runs))),
        ("runs succeeded", f"{ok}/{len(data.runs)}" if data.runs else "—"),
        ("records accepted by Iterable", f"{sent:,}"),
        ("open rejections", f"{open_rejections:,}"),
        ("latency p50", _duration(p50)),
        ("latency p95", _duration(p95)),
    ]
    sections = [
        _section(
            "runs",
            "Runs over time",
            "Records accepted (bar height) per run, coloured by the run's status.",
            runs_chart(data),
        ),
        _section(
            "records",
            "Records per object and operation",
            "Delivery attempts in the changelog, by outcome.",
            records_chart(data),
        ),
        _section(
            "rejections",
            "Open rejections by reason",
            "Records waiting for a fix in the source and `ctsync replay`.",
            rejections_chart(data),
        ),
        _section(
            "latency",
            "Delivery latency",
            "From the commercetools change to Iterable's acceptance (log-scaled buckets).",
            latency_chart(data) + latency_table(data),
        ),
    ]
    tile_html = "".join(
        f'<div class="tile"><div class="v">{e(v)}</div><div class="k">{e(k)}</div></div>'
        for k, v in tiles
    )
    return PAGE.format(
        generated=e(data.generated_at.strftime("%Y-%m-%d %H:%M:%S UTC")),
        warehouse=e(data.warehouse),
        tiles=tile_html,
        sections="".join(sections),
        script=SCRIPT,
    )


def _section(anchor: str, title: str, note: str, body: str) -> str:
    return (
        f'<section id="{anchor}"><h2>{e(title)}</h2><p class="note">{e(note)}</p>{body}</section>'
    )


def _empty(message: str) -> str:
    return f'<p class="empty">{e(message)}</p>'


def runs_chart(data: ReportData) -> str:
    if not data.runs:
        return _empty("No runs recorded yet.")
    width, height, pad_l, pad_b = 860, 240, 50, 40
    top = max(max(r[5] + r[6] for r in data.runs), 1)
    slot = (width - pad_l - 10) / len(data.runs)
    bar = max(2.0, slot * 0.7)
    parts = [_axis_y(top, pad_l, height - pad_b, 10, width)]
    for i, (run_id, trigger, status, started, seconds, succeeded, rejected) in enumerate(data.runs):
        x = pad_l + i * slot + (slot - bar) / 2
        total = succeeded + rejected
        h = (height - pad_b - 10) * total / top
        h = max(h, 2.0)
        colour = COLOURS.get(status, "#666")
        duration = f"{seconds:.1f}s" if seconds is not None else "running"
        tip = (
            f"{started:%Y-%m-%d %H:%M:%S} {trigger} run {run_id[:8]}: {status}, "
            f"{succeeded} accepted, {rejected} rejected, {duration}"
        )
        parts.append(
            f'<rect class="bar run" data-status="{e(status)}" x="{x:.1f}" '
            f'y="{height - pad_b - h:.1f}" width="{bar:.1f}" height="{h:.1f}" fill="{colour}">'
            f"<title>{e(tip)}</title></rect>"
        )
    first, last = data.runs[0][3], data.runs[-1][3]
    parts.append(_text(pad_l, height - 12, f"{first:%Y-%m-%d %H:%M}", "start"))
    parts.append(_text(width - 10, height - 12, f"{last:%Y-%m-%d %H:%M}", "end"))
    legend = sorted({r[2] for r in data.runs})
    return _svg(width, height, "runs over time", "".join(parts)) + _legend(
        [(s, COLOURS.get(s, "#666")) for s in legend]
    )


def records_chart(data: ReportData) -> str:
    if not data.records:
        return _empty("No records sent yet.")
    groups: dict[tuple[str, str], dict[str, int]] = {}
    for obj, operation, outcome, count in data.records:
        groups.setdefault((obj, operation), {})[outcome] = count
    order = {name: i for i, name in enumerate(OBJECTS)}
    keys = sorted(groups, key=lambda k: (order.get(k[0], 99), k[1]))
    top = max(sum(v.values()) for v in groups.values())
    row_h, pad_l, width = 26, 190, 860
    height = row_h * len(keys) + 30
    parts = []
    for i, key in enumerate(keys):
        y = 10 + i * row_h
        parts.append(_text(pad_l - 8, y + 15, f"{key[0]} · {key[1]}", "end"))
        x = float(pad_l)
        for outcome in RecordOutcome:
            count = groups[key].get(outcome, 0)
            if not count:
                continue
            w = max(2.0, (width - pad_l - 80) * count / top)
            parts.append(
                f'<rect class="bar records" x="{x:.1f}" y="{y}" width="{w:.1f}" '
                f'height="{row_h - 8}" fill="{OUTCOME_COLOURS[outcome]}">'
                f"<title>{e(f'{key[0]} {key[1]} {outcome}: {count:,}')}</title></rect>"
            )
            x += w
        parts.append(_text(x + 6, y + 15, f"{sum(groups[key].values()):,}", "start"))
    return _svg(width, height, "records per object and operation", "".join(parts)) + _legend(
        list(OUTCOME_COLOURS.items())
    )


def rejections_chart(data: ReportData) -> str:
    if not data.rejections:
        return _empty("No open rejections.")
    top = max(r[2] for r in data.rejections)
    row_h, pad_l, width = 26, 300, 860
    height = row_h * len(data.rejections) + 20
    parts = []
    for i, (obj, reason, count) in enumerate(data.rejections):
        y = 10 + i * row_h
        w = max(2.0, (width - pad_l - 80) * count / top)
        parts.append(_text(pad_l - 8, y + 15, f"{obj} · {reason}", "end"))
        parts.append(
            f'<rect class="bar rejection" x="{pad_l}" y="{y}" width="{w:.1f}" '
            f'height="{row_h - 8}" fill="#d9534f"><title>{e(f"{obj} {reason}: {count:,}")}'
            f"</title></rect>"
        )
        parts.append(_text(pad_l + w + 6, y + 15, f"{count:,}", "start"))
    return _svg(width, height, "open rejections by reason", "".join(parts))


def latency_histogram(latencies: list[float]) -> list[tuple[str, int]]:
    edges = [0.0, *map(float, LATENCY_BUCKETS)]
    counts = [0] * (len(edges))
    for value in latencies:
        for i, upper in enumerate(LATENCY_BUCKETS):
            if value <= upper:
                counts[i] += 1
                break
        else:
            counts[-1] += 1
    labels = [f"≤{_duration(float(u))}" for u in LATENCY_BUCKETS] + [
        f">{_duration(float(LATENCY_BUCKETS[-1]))}"
    ]
    return list(zip(labels, counts, strict=True))


def latency_chart(data: ReportData) -> str:
    if not data.latencies:
        return _empty("No deliveries with a known commercetools change time yet.")
    buckets = latency_histogram(data.latencies)
    top = max(c for _, c in buckets) or 1
    width, height, pad_l, pad_b = 860, 220, 50, 40
    slot = (width - pad_l - 10) / len(buckets)
    parts = [_axis_y(top, pad_l, height - pad_b, 10, width)]
    for i, (label, count) in enumerate(buckets):
        x = pad_l + i * slot + slot * 0.1
        h = (height - pad_b - 10) * count / top
        parts.append(
            f'<rect class="bar latency" x="{x:.1f}" y="{height - pad_b - h:.1f}" '
            f'width="{slot * 0.8:.1f}" height="{h:.1f}" fill="#5b8def">'
            f"<title>{e(f'{label}: {count:,} record(s)')}</title></rect>"
        )
        parts.append(_text(x + slot * 0.4, height - pad_b + 16, label, "middle"))
    return _svg(width, height, "latency distribution", "".join(parts))


def latency_table(data: ReportData) -> str:
    if not data.latency_by_object:
        return ""
    rows = "".join(
        f"<tr><td>{e(o)}</td><td>{n:,}</td><td>{e(_duration(p50))}</td>"
        f"<td>{e(_duration(p95))}</td></tr>"
        for o, n, p50, p95 in data.latency_by_object
    )
    return (
        '<table class="lat"><thead><tr><th>object</th><th>records</th><th>p50</th>'
        f"<th>p95</th></tr></thead><tbody>{rows}</tbody></table>"
    )


def _svg(width: int, height: int, label: str, body: str) -> str:
    return (
        f'<svg class="chart" role="img" aria-label="{e(label)}" viewBox="0 0 {width} {height}" '
        f'width="100%" preserveAspectRatio="xMinYMin meet" xmlns="http://www.w3.org/2000/svg">'
        f"{body}</svg>"
    )


def _text(x: float, y: float, text: str, anchor: str) -> str:
    return f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}">{e(text)}</text>'


def _axis_y(top: float, x: float, bottom: float, upper: float, width: int) -> str:
    parts = []
    for fraction in (0.0, 0.5, 1.0):
        y = bottom - (bottom - upper) * fraction
        value = top * fraction
        parts.append(f'<line class="grid" x1="{x}" x2="{width - 10}" y1="{y:.1f}" y2="{y:.1f}"/>')
        parts.append(_text(x - 6, y + 4, f"{value:,.0f}", "end"))
    return "".join(parts)


def _legend(items: list[tuple[str, str]]) -> str:
    return (
        '<div class="legend">'
        + "".join(f'<span><i style="background:{c}"></i>{e(name)}</span>' for name, c in items)
        + "</div>"
    )


def _quantile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * q
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    if seconds < 60:
        return f"{seconds:.1f}s" if seconds < 10 else f"{seconds:.0f}s"
    if seconds < 3600:
        return f"{seconds / 60:.0f}m"
    if seconds < 86400:
        return f"{seconds / 3600:.0f}h"
    return f"{seconds / 86400:.0f}d"


SCRIPT = """
(function () {
  var tip = document.getElementById('tip');
  var bars = document.querySelectorAll('rect.bar');
  bars.forEach(function (bar) {
    bar.addEventListener('mousemove', function (ev) {
      var t = bar.querySelector('title');
      tip.textContent = t ? t.textContent : '';
      tip.style.left = (ev.pageX + 12) + 'px';
      tip.style.top = (ev.pageY + 12) + 'px';
      tip.style.display = 'block';
    });
    bar.addEventListener('mouseleave', function () { tip.style.display = 'none'; });
  });
  var body = document.body;
  body.setAttribute('data-rendered', 'true');
  body.setAttribute('data-bars', String(bars.length));
  body.setAttribute('data-charts', String(document.querySelectorAll('svg.chart').length));
})();
"""

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>ctsync report</title>
<style>
body {{ font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 24px auto;
       max-width: 920px; color: #1d2330; background: #fafbfc; padding: 0 16px; }}
h1 {{ font-size: 22px; margin: 0 0 4px; }} h2 {{ font-size: 17px; margin: 28px 0 2px; }}
.meta, .note {{ color: #5d6778; margin: 0 0 10px; }}
.tiles {{ display: grid; grid-template-columns: repeat(3, 1fr); gap: 10px; margin: 16px 0; }}
.tile {{ background: #fff; border: 1px solid #e3e6eb; border-radius: 8px; padding: 10px 14px; }}
.tile .v {{ font-size: 22px; font-weight: 600; }} .tile .k {{ color: #5d6778; }}
section {{ background: #fff; border: 1px solid #e3e6eb; border-radius: 8px; padding: 6px 16px 14px;
          margin-bottom: 14px; }}
svg.chart text {{ font-size: 11px; fill: #3b4453; }} svg.chart line.grid {{ stroke: #edf0f3; }}
rect.bar:hover {{ opacity: .8; }}
.legend span {{ margin-right: 14px; color: #3b4453; }}
.legend i {{ display: inline-block; width: 10px; height: 10px; margin-right: 5px;
            border-radius: 2px; }}
.empty {{ color: #8a93a3; font-style: italic; }}
table.lat {{ border-collapse: collapse; margin-top: 8px; }}
table.lat td, table.lat th {{ border-bottom: 1px solid #edf0f3; padding: 3px 14px 3px 0;
                              text-align: left; }}
#tip {{ position: absolute; display: none; background: #1d2330; color: #fff; padding: 4px 8px;
        border-radius: 4px; font-size: 12px; pointer-events: none; }}
</style></head>
<body>
<h1>ctsync — commercetools → Iterable</h1>
<p class="meta">Generated {generated} from <code>{warehouse}</code></p>
<div class="tiles">{tiles}</div>
{sections}
<div id="tip"></div>
<script>{script}</script>
</body></html>
"""
