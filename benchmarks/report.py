"""Printing the results: the side-by-side table, the goals, the scaling plot (SVG)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

BASELINE = "twisted"
COLUMNS = (
    ("deliv/s", 9), ("msgs/s", 8), ("p50 us", 7), ("p99 us", 8), ("RSS MiB", 7),
    ("threads", 7), ("srv CPU", 7), ("gen CPU", 7), ("check", 5), ("x Twisted", 9),
)  # fmt: skip


def _si(value: float) -> str:
    if value >= 1e6:
        return f"{value / 1e6:.2f}M"
    if value >= 1e3:
        return f"{value / 1e3:.1f}k"
    return f"{value:.0f}"


def progress(repeat: int, scenario: str, server: str, row: dict[str, Any]) -> str:
    state = "ok" if row["ok"] else "PROBLEM: " + "; ".join(row["problems"])
    return (
        f"  run {repeat + 1} {scenario:>5} {server:<8} {_si(row['deliveries_per_s']):>7} deliv/s"
        f"  p50 {row['p50_us']:6.0f} us  rss {row['peak_rss_mib']:5.1f} MiB"
        f"  cpu srv {row['server_cpu']:4.0%} gen {row['loadgen_cpu']:4.0%}  {state}"
    )


def _ratio(scenario: dict[str, Any], server: str) -> float | None:
    servers = scenario["servers"]
    if server == BASELINE or BASELINE not in servers:
        return None
    return float(
        servers[server]["median"]["deliveries_per_s"]
        / servers[BASELINE]["median"]["deliveries_per_s"]
    )


def table(summary: dict[str, Any]) -> str:
    machine = summary["machine"]
    lines = [
        f"{machine['cpu']}, {machine['cores']} cores, {machine['implementation']} "
        f"{machine['python']}, Twisted {machine['twisted']}; medians of "
        f"{summary['settings']['repeats']}, server and load generator "
        + ("pinned to separate cores" if summary["settings"]["pinned"] else "not pinned"),
        "",
        f"{'scenario':<9} {'server':<8} " + " ".join(f"{t:>{w}}" for t, w in COLUMNS),
    ]
    for scenario in summary["scenarios"]:
        lines.append(f"{scenario['name']}: {scenario['title']}")
        for server, data in scenario["servers"].items():
            m = data["median"]
            ratio = _ratio(scenario, server)
            cells = (
                _si(m["deliveries_per_s"]), _si(m["messages_per_s"]), f"{m['p50_us']:.0f}",
                f"{m['p99_us']:.0f}", f"{m['peak_rss_mib']:.1f}", f"{m['threads']:.0f}",
                f"{m['server_cpu']:.0%}", f"{m['loadgen_cpu']:.0%}",
                "ok" if m["ok"] else "FAIL", "" if ratio is None else f"{ratio:.2f}x",
            )  # fmt: skip
            lines.append(
                f"{'':<9} {server:<8} " + " ".join(f"{c:>{w}}" for c, (_, w) in zip(cells, COLUMNS))
            )
    lines.append("")
    lines.append(
        "deliv/s: lines received by all clients per second; msgs/s: lines sent per second "
        "(round trips in a);\np50/p99: send to own echo; RSS: server peak (VmHWM); "
        "CPU: share of one core while measuring; check: every client got every line, "
        "in one order."
    )
    return "\n".join(lines)


@dataclass
class Goals:
    text: str
    met: bool
    correct: bool


def goals(summary: dict[str, Any]) -> Goals:
    """The issue's goals, each said to be met or missed."""
    found = {s["name"]: s for s in summary["scenarios"]}
    verdicts: list[tuple[str, bool]] = []
    correct = all(d["median"]["ok"] for s in summary["scenarios"] for d in s["servers"].values())
    verdicts.append(("no loss, no reordering, one total order in every run", correct))
    both = {name for name, s in found.items() if {"tcpchat", BASELINE} <= s["servers"].keys()}
    if "a" in both:
        ours, theirs = (found["a"]["servers"][k]["median"] for k in ("tcpchat", BASELINE))
        verdicts.append(
            (
                f"a: round trips {_si(ours['messages_per_s'])}/s >= Twisted's "
                f"{_si(theirs['messages_per_s'])}/s, p50 {ours['p50_us']:.0f} us <= "
                f"{theirs['p50_us']:.0f} us",
                ours["messages_per_s"] >= theirs["messages_per_s"]
                and ours["p50_us"] <= theirs["p50_us"],
            )
        )
    for name in ("b", "c"):
        if name in both:
            ratio = _ratio(found[name], "tcpchat") or 0.0
            verdicts.append((f"{name}: {ratio:.2f}x Twisted's deliveries/s >= 1.5x", ratio >= 1.5))
    if "c" in found and "tcpchat" in found["c"]["servers"]:
        m = found["c"]["servers"]["tcpchat"]["median"]
        verdicts.append(
            (
                f"c: peak RSS {m['peak_rss_mib']:.1f} MiB < 64 MiB with "
                f"{m['threads']:.0f} threads for 1,000 clients",
                m["peak_rss_mib"] < 64,
            )
        )
    text = "\n".join(f"[{'met' if ok else 'MISSED'}] {what}" for what, ok in verdicts)
    return Goals(text, all(ok for _, ok in verdicts), correct)


# -- the scaling plot -------------------------------------------------------

_COLOURS = {"tcpchat": "#1f77b4", "twisted": "#d62728"}
_PANELS = (
    ("deliveries_per_s", "deliveries/s (millions)", 1e-6),
    ("peak_rss_mib", "server peak RSS (MiB)", 1.0),
    ("p50_us", "p50 latency (ms)", 1e-3),
)


def scaling_svg(summary: dict[str, Any], names: list[str]) -> str:
    """Three small panels against the number of clients (log scale): a plain SVG."""
    points = [s for s in summary["scenarios"] if s["name"] in names]
    points.sort(key=lambda s: s["clients"])
    width, height, pad = 260, 200, 44
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width * len(_PANELS)}" '
        f'height="{height + 30}" font-family="sans-serif" font-size="11">',
        '<rect width="100%" height="100%" fill="white"/>',
    ]
    if not points:
        return "\n".join([*parts, "</svg>\n"])
    xs = [math.log10(s["clients"]) for s in points]
    x_low, x_high = min(xs) - 0.15, max(xs) + 0.15
    for panel, (key, label, scale) in enumerate(_PANELS):
        left = panel * width
        series = {
            server: [(s["clients"], s["servers"][server]["median"][key] * scale) for s in points]
            for server in _COLOURS
            if all(server in s["servers"] for s in points)
        }
        top = max((v for line in series.values() for _, v in line), default=1.0) * 1.15 or 1.0

        def at(clients: float, value: float, left: int = left, top: float = top) -> str:
            x = left + pad + (math.log10(clients) - x_low) / (x_high - x_low) * (width - pad - 10)
            y = height - pad + 10 - value / top * (height - pad - 10)
            return f"{x:.1f},{y:.1f}"

        parts.append(f'<text x="{left + width / 2}" y="14" text-anchor="middle">{label}</text>')
        x0, y0 = at(10**x_low, 0).split(",")
        x1, _ = at(10**x_high, 0).split(",")
        _, y1 = at(10**x_low, top).split(",")
        parts.append(
            f'<polyline points="{x0},{y1} {x0},{y0} {x1},{y0}" fill="none" stroke="#444"/>'
        )
        for fraction in (0.5, 1.0):
            _, y = at(10**x_low, top / 1.15 * fraction).split(",")
            parts.append(
                f'<text x="{float(x0) - 4}" y="{y}" text-anchor="end">'
                f"{top / 1.15 * fraction:.3g}</text>"
            )
        for s in points:
            x, _ = at(s["clients"], 0).split(",")
            parts.append(
                f'<text x="{x}" y="{float(y0) + 14}" text-anchor="middle">{s["clients"]}</text>'
            )
        for server, line in series.items():
            coords = " ".join(at(c, v) for c, v in line)
            colour = _COLOURS[server]
            parts.append(f'<polyline points="{coords}" fill="none" stroke="{colour}"/>')
            parts.extend(
                f'<circle cx="{p.split(",")[0]}" cy="{p.split(",")[1]}" r="2.5" fill="{colour}"/>'
                for p in coords.split()
            )
    for number, (server, colour) in enumerate(_COLOURS.items()):
        x = 60 + number * 90
        parts.append(f'<rect x="{x}" y="{height + 12}" width="10" height="10" fill="{colour}"/>')
        parts.append(f'<text x="{x + 14}" y="{height + 21}">{server}</text>')
    parts.append(
        f'<text x="{width * len(_PANELS) - 10}" y="{height + 21}" text-anchor="end">'
        "clients connected (10 senders), log scale</text>"
    )
    return "\n".join([*parts, "</svg>\n"])
