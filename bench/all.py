"""Run every benchmark at one scale and print one table: measure, value, goal, pass/fail.

    .venv/bin/python bench/all.py [--scale small|100k|1m] [--only ingest,sync,...]
                                  [--record] [--json PATH]

Each bench script runs in its own process (its JSON on stdout is kept, its progress goes to
``<run folder>/<bench>.log``), one after the other, so no two compete for the CPU. The table
names the machine: cores, the load average before and after the run, the date.

``--scale small`` is for trying things out (a few thousand rows, minutes); ``100k`` and ``1m``
are the scales the goals are stated at (100 000 customers / 300 000 orders, 1 000 000 /
3 000 000). ``--record`` also writes the table into ``bench/RESULTS.md`` (the section of
that scale; the other scales' sections are kept). Benchmarks are not tests: CI never runs them.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
RESULTS = BENCH / "RESULTS.md"

SCALES: dict[str, dict[str, int]] = {
    # customers/orders: the shop; latency_customers: the shop behind the serve latency
    # measure; ingest_customers: customers (and as many orders) served by the sandbox.
    "small": {
        "customers": 20_000,
        "orders": 60_000,
        "latency_customers": 200,
        "ingest_customers": 3_000,
        "users": 10_000,
        "single_records": 3_000,
    },
    "100k": {
        "customers": 100_000,
        "orders": 300_000,
        "latency_customers": 100_000,
        "ingest_customers": 100_000,
        "users": 200_000,
        "single_records": 6_000,
    },
    "1m": {
        "customers": 1_000_000,
        "orders": 3_000_000,
        "latency_customers": 1_000_000,
        "ingest_customers": 1_000_000,
        "users": 1_000_000,
        "single_records": 12_000,
    },
}


@dataclass(frozen=True)
class Bench:
    name: str
    script: str
    args: Callable[[dict[str, int], Path], list[str]]


BENCHES: tuple[Bench, ...] = (
    Bench("emulator", "emulator.py", lambda s, w: ["--seconds", "3"]),
    Bench("sync", "sync.py", lambda s, w: ["--users", str(s["users"])]),
    Bench(
        "single_record",
        "single_record.py",
        lambda s, w: ["--records", str(s["single_records"])],
    ),
    Bench("ingest", "ingest.py", lambda s, w: ["--customers", str(s["ingest_customers"])]),
    Bench(
        "transform",
        "transform.py",
        lambda s, w: [
            "--customers",
            str(s["customers"]),
            "--orders",
            str(s["orders"]),
            "--template-customers",
            str(min(2000, s["customers"])),
            "--workdir",
            str(w / "transform"),
        ],
    ),
    # Measures the warehouse transform.py left behind (so it must run after it).
    Bench(
        "warehouse_size",
        "warehouse_size.py",
        lambda s, w: ["--warehouse", str(w / "transform" / "warehouse.duckdb"), "--compact"],
    ),
    Bench(
        "freshness",
        "freshness.py",
        lambda s, w: [
            "--customers",
            str(s["latency_customers"]),
            "--changes",
            "12",
            "--interval",
            "5",
            "--big-customers",
            str(s["customers"]),
            "--big-changes",
            "100",
        ],
    ),
)


@dataclass(frozen=True)
class Measure:
    label: str
    bench: str
    path: tuple[str, ...]
    unit: str
    goals: dict[str, tuple[str, float]]
    """Scale → (``<=`` or ``>=``, bound); a scale without a goal only reports the value."""


MEASURES: tuple[Measure, ...] = (
    Measure(
        "change → Iterable through serve, p95",
        "freshness",
        ("latency", "p95_seconds"),
        "s",
        {"small": ("<=", 5.0), "100k": ("<=", 5.0), "1m": ("<=", 5.0)},
    ),
    Measure(
        "incremental ctsync run, 100 changed customers",
        "freshness",
        ("incremental_run", "wall_seconds"),
        "s",
        {"small": ("<=", 10.0), "100k": ("<=", 10.0), "1m": ("<=", 30.0)},
    ),
    Measure(
        "full dbt build",
        "transform",
        ("full_build", "seconds"),
        "s",
        {"1m": ("<=", 60.0)},
    ),
    Measure(
        "dbt build after the first sync (once per warehouse)",
        "transform",
        ("settle_build", "seconds"),
        "s",
        {},
    ),
    Measure(
        "incremental dbt build after 0.1 % changes",
        "transform",
        ("incremental_build", "seconds"),
        "s",
        {"small": ("<=", 3.0), "100k": ("<=", 3.0), "1m": ("<=", 10.0)},
    ),
    Measure(
        "ingest rows/s ÷ bare serial httpx keyset loop",
        "ingest",
        ("ingest_vs_bare_ratio",),
        "×",
        {"small": (">=", 1.0), "100k": (">=", 1.0), "1m": (">=", 1.0)},
    ),
    Measure(
        "users backfill ÷ Iterable's ceiling",
        "sync",
        ("backfill", "fraction_of_ceiling"),
        "×",
        {"small": (">=", 0.95), "100k": (">=", 0.95), "1m": (">=", 0.95)},
    ),
    Measure(
        "trackPurchase records/s ÷ configured rate, no stalls",
        "single_record",
        ("no_stalls", "fraction_of_rate"),
        "×",
        {"small": (">=", 0.9), "100k": (">=", 0.9), "1m": (">=", 0.9)},
    ),
    Measure(
        "trackPurchase records/s ÷ configured rate, 2 % stalled",
        "single_record",
        ("stalls", "fraction_of_rate"),
        "×",
        {"small": (">=", 0.5), "100k": (">=", 0.5), "1m": (">=", 0.5)},
    ),
    Measure(
        "warehouse file after build + acknowledge",
        "warehouse_size",
        ("file_mb",),
        "MB",
        # half of what the issue measured before (1.45 GB at 100k, 14.2 GB at 1m)
        {"100k": ("<=", 725.0), "1m": ("<=", 7100.0)},
    ),
    Measure(
        "warehouse file after `ctsync compact` (without its free blocks)",
        "warehouse_size",
        ("compacted", "file_mb"),
        "MB",
        {},
    ),
    Measure(
        "emulator: small requests/s (slower of track, updateUser)",
        "emulator",
        ("__small_rps__",),
        "req/s",
        {"small": (">=", 2000.0), "100k": (">=", 2000.0), "1m": (">=", 2000.0)},
    ),
    Measure(
        "emulator: bulkUpdate of 1000 users, requests/s",
        "emulator",
        ("users_bulkUpdate_1000", "requests_per_s"),
        "req/s",
        {"small": (">=", 20.0), "100k": (">=", 20.0), "1m": (">=", 20.0)},
    ),
)


def _dig(data: Any, path: tuple[str, ...]) -> Any:
    if path == ("__small_rps__",):
        try:
            return min(
                data["events_track"]["requests_per_s"], data["users_update"]["requests_per_s"]
            )
        except (KeyError, TypeError):
            return None
    for key in path:
        if not isinstance(data, dict) or key not in data:
            return None
        data = data[key]
    return data


def run_bench(bench: Bench, scale: dict[str, int], workdir: Path) -> dict[str, Any]:
    """Run one bench script; its last JSON object on stdout, or ``{"error": ...}``."""
    log = workdir / f"{bench.name}.log"
    command = [sys.executable, str(BENCH / bench.script), *bench.args(scale, workdir)]
    print(f"[{time.strftime('%H:%M:%S')}] {bench.name}: {' '.join(command[1:])}", file=sys.stderr)
    started = time.monotonic()
    with log.open("w") as err:
        done = subprocess.run(command, stdout=subprocess.PIPE, stderr=err, text=True)
    seconds = round(time.monotonic() - started, 1)
    text = done.stdout.strip()
    result: dict[str, Any]
    try:
        result = json.loads(text[text.index("{") :]) if "{" in text else {}
    except ValueError:
        result = {}
    if done.returncode != 0 or not result:
        tail = log.read_text(errors="replace").strip().splitlines()[-5:]
        result = {**result, "error": f"exit {done.returncode}: " + " | ".join(tail)[-600:]}
    result["_bench_seconds"] = seconds
    print(f"[{time.strftime('%H:%M:%S')}] {bench.name}: {seconds} s", file=sys.stderr)
    return result


def _fmt(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, float):
        return f"{value:.3f}".rstrip("0") if abs(value) < 10 else f"{value:,.1f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def table(scale_name: str, results: dict[str, dict[str, Any]]) -> list[list[str]]:
    rows = []
    for measure in MEASURES:
        data = results.get(measure.bench)
        goal = measure.goals.get(scale_name)
        goal_text = (
            f"{'≤' if goal[0] == '<=' else '≥'} {_fmt(goal[1])} {measure.unit}" if goal else "—"
        )
        if data is None:
            rows.append([measure.label, "not run", goal_text, "—"])
            continue
        value = _dig(data, measure.path)
        if not isinstance(value, (int, float)):
            reason = data.get("error") or "no figure"
            rows.append(
                [measure.label, f"error: {str(reason)[:120]}", goal_text, "FAIL" if goal else "—"]
            )
            continue
        verdict = "—"
        if goal:
            ok = value <= goal[1] if goal[0] == "<=" else value >= goal[1]
            verdict = "pass" if ok else "FAIL"
        rows.append([measure.label, f"{_fmt(value)} {measure.unit}", goal_text, verdict])
    return rows


def render(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = ["| " + " | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)) + " |"]
    lines.append("| " + " | ".join("-" * w for w in widths) + " |")
    for row in rows:
        lines.append("| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |")
    return "\n".join(lines)


def machine() -> dict[str, Any]:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cores": os.cpu_count(),
        "cpu": model or platform.processor() or platform.machine(),
        "python": platform.python_version(),
        "system": f"{platform.system()} {platform.release()}",
    }


def record(scale_name: str, text: str) -> None:
    begin, end = f"<!-- scale:{scale_name} -->", f"<!-- /scale:{scale_name} -->"
    current = (
        RESULTS.read_text()
        if RESULTS.exists()
        else (
            "# Benchmark results\n\nWritten by `bench/all.py --record`; one section per scale, "
            "the last run of each. Figures depend on the machine and on what else runs on it: "
            "read them with the load average beside them.\n"
        )
    )
    section = f"{begin}\n{text}\n{end}"
    pattern = re.compile(re.escape(begin) + ".*?" + re.escape(end), re.S)
    if pattern.search(current):
        current = pattern.sub(lambda _m: section, current)
    else:
        current = current.rstrip("\n") + "\n\n" + section + "\n"
    RESULTS.write_text(current if current.endswith("\n") else current + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--scale", choices=sorted(SCALES), default="small")
    parser.add_argument(
        "--only",
        default="",
        help=f"comma-separated subset of: {', '.join(b.name for b in BENCHES)}",
    )
    parser.add_argument("--record", action="store_true", help="write the table to bench/RESULTS.md")
    parser.add_argument(
        "--json", type=Path, default=None, help="also write every bench's JSON here"
    )
    parser.add_argument("--workdir", type=Path, default=None, help="keep logs and files here")
    args = parser.parse_args()

    only = {n.strip() for n in args.only.split(",") if n.strip()}
    unknown = only - {b.name for b in BENCHES}
    if unknown:
        parser.error(f"unknown bench(es): {', '.join(sorted(unknown))}")
    registered = {b.script for b in BENCHES} | {"all.py"}
    unregistered = sorted(p.name for p in BENCH.glob("*.py") if p.name not in registered)

    scale = SCALES[args.scale]
    os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")
    os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
    started_at = datetime.now(UTC)
    load_before = os.getloadavg()
    started = time.monotonic()
    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="ctsync-bench-all-") as tmp:
        workdir = args.workdir or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        for bench in BENCHES:
            if only and bench.name not in only:
                continue
            results[bench.name] = run_bench(bench, scale, workdir)
    load_after = os.getloadavg()
    host = machine()
    rows = table(args.scale, results)
    header = ["measure", "value", "goal", "pass/fail"]
    loads = " / ".join(f"{x:.2f}" for x in load_before)
    loads_after = " / ".join(f"{x:.2f}" for x in load_after)
    text = "\n".join(
        [
            f"## `bench/all.py --scale {args.scale}`"
            + (f" (only {', '.join(sorted(only))})" if only else ""),
            "",
            f"- date: {started_at:%Y-%m-%d %H:%M} UTC, "
            f"{round(time.monotonic() - started)} s in all",
            f"- machine: {host['cores']} cores ({host['cpu']}), {host['system']}, "
            f"Python {host['python']}",
            f"- load average (1 / 5 / 15 min): {loads} before, {loads_after} after",
            f"- scale: {', '.join(f'{k} {v:,}' for k, v in scale.items())}",
            "",
            render(rows, header),
        ]
        + (
            ["", f"Not run (not registered in bench/all.py): {', '.join(unregistered)}"]
            if unregistered
            else []
        )
    )
    print(text)
    if args.json is not None:
        args.json.write_text(
            json.dumps(
                {
                    "scale": args.scale,
                    "machine": host,
                    "load_before": load_before,
                    "load_after": load_after,
                    "results": results,
                },
                indent=2,
            )
        )
    if args.record:
        record(args.scale, text)
    failed = any(row[3] == "FAIL" for row in rows)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
