"""Markdown tables (one per test) from bench.py JSON results: python bench/report.py A.json [B.json ...].

Each file is one run; its label is the file name (or LABEL=PATH). Used to
publish the figures in docs/benchmark.md.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

# bench.py is a script beside this one: its target checks judge every run alike,
# also runs recorded before it checked them all.
sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench

FIRST = ("BARE", "STATIC")  # the floor and the ceiling before the tests


def load(arg: str) -> tuple[str, dict[str, Any]]:
    label, _, path = arg.rpartition("=")
    p = Path(path)
    return label or p.stem, json.loads(p.read_text())


def _ratio(x: float | None) -> str:
    return "–" if x is None else f"{x:.2f}"  # runs before the floor existed have none


def _verdict(t: dict[str, Any]) -> str:
    if t["ok"] is None:
        return "n/a"
    v = t["value"]
    shown = f"{v:,.0f}" if isinstance(v, int | float) and v >= 1000 else str(v)
    worst = f" ({t['worst']})" if "worst" in t else ""
    return f"{shown}{worst} {'OK' if t['ok'] else 'MISSED'}"


def targets_table(runs: list[tuple[str, dict[str, Any]]]) -> list[str]:
    """Each target of the benchmark (rows) in each run (columns): the value, the worst test
    where several apply, and OK or MISSED, as bench.targets judges it."""
    judged = [(label, bench.targets(d)) for label, d in runs]
    keys: list[str] = []
    for _, t in judged:
        keys += [k for k in t if k not in keys]
    out = [
        "| target | want | " + " | ".join(label for label, _ in judged) + " |",
        "|---|---|" + "---|" * len(judged),
    ]
    for k in keys:
        want = next(t[k]["target"] for _, t in judged if k in t).split(" for each of ")[0]
        cells = [_verdict(t[k]) if k in t else "–" for _, t in judged]
        out.append(f"| {k} | {want} | " + " | ".join(cells) + " |")
    return out


def report(runs: list[tuple[str, dict[str, Any]]]) -> str:
    out: list[str] = []
    out.append(
        "| run | commit | processor | warm ready s | cold ready s | PSS after load MB "
        "| PSS after bench MB |"
    )
    out.append("|---|---|---|---|---|---|---|")
    for label, d in runs:
        m = d.get("memory", {})
        meta = d.get("meta", {})
        out.append(
            f"| {label} | {str(meta.get('git', {}).get('commit', ''))[:7]} "
            f"| {meta.get('cpu', '–')} "
            f"| {d.get('time_to_ready_warm_s')} | {d.get('time_to_ready_cold_s')} | "
            f"{m.get('after_load', {}).get('pss_mb')} | {m.get('after_bench', {}).get('pss_mb')} |"
        )
    out += ["", *targets_table(runs)]
    names: list[str] = [n for n in FIRST if any(n in d["results"] for _, d in runs)]
    for _, d in runs:
        names += [n for n in d["results"] if n not in names]
    for name in names:
        out += [
            "",
            f"### {name}",
            "",
            "| run | conns | req/s | p50 ms | p95 ms | p99 ms | errors | vs static | vs bare "
            "| server µs/req |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        for label, d in runs:
            for conns, r in d["results"].get(name, {}).items():
                out.append(
                    f"| {label} | {conns} | {r['requests_per_s']:.0f} | {r['p50_ms']:.3f} | {r['p95_ms']:.3f} "
                    f"| {r['p99_ms']:.3f} | {r['errors']} | {r.get('ratio_to_static', 1.0):.2f} "
                    f"| {_ratio(r.get('ratio_to_bare'))} "
                    f"| {r.get('server_cpu_us_per_request', 0):.0f} |"
                )
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    print(report([load(a) for a in sys.argv[1:]]), end="")
