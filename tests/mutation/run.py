"""``tox -e mutation``: mutmut 3 over the pure layer and the delivery code, with a goal.

Why a driver: mutmut prints a live counter but neither a per-module score nor a
verdict.  This runs it, reads its results (``mutants/**/*.py.meta``), prints the
score of each module and every survivor, and exits 1 below :data:`GOAL`.

What is mutated and which tests drive it are set in ONE place, ``[tool.mutmut]``
of pyproject.toml (``only_mutate`` and ``pytest_add_cli_args_test_selection``).

* default (CI): every mutant of the pure modules (about 430, two minutes), and
  for the modules listed in ``[tool.tcpchat.mutation] sampled`` (the delivery
  code, whose mutants each run the threaded core tests, several seconds apiece)
  a fixed one-in-five sample: the mutants numbered ``…0`` and ``…5`` in every
  function (``*__mutmut_*[05]``), the same set on every run, so a score can be
  compared from change to change.  About ten minutes on two cores.
* ``--full`` (or ``TCPCHAT_MUTATION_FULL=1``): every mutant (about 800; an hour
  on two busy cores, most of it the delivery code's).

Mutants listed as equivalent in docs/testing.md (a line ``- `NAME`: reason``)
are reported apart and left out of the score (killed / non-equivalent mutants,
the usual definition); the raw share, counting them as survivors, is printed too.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

GOAL = 85.0
SAMPLE = "*__mutmut_*[05]"
ROOT = Path(__file__).resolve().parents[2]
KILLED = {1, 3, 36, 24, -24, 152, 255, 37}  # killed, timed out or caught (mutmut's codes)
SURVIVED = {0}
SKIPPED = {34}


def settings() -> tuple[list[str], list[str]]:
    """(mutated modules, sampled modules) from pyproject.toml, the single source of truth."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python < 3.11
        import tomli as tomllib  # type: ignore[no-redef]
    with open(ROOT / "pyproject.toml", "rb") as file:
        tool = tomllib.load(file)["tool"]
    sampled = tool.get("tcpchat", {}).get("mutation", {}).get("sampled", [])
    return list(tool["mutmut"]["only_mutate"]), list(sampled)


def patterns(modules: list[str], sampled: list[str], full: bool) -> dict[str, str]:
    """{module path: the mutant names to run}, as mutmut's glob patterns."""
    chosen = {}
    for module in modules:
        dotted = module.removesuffix(".py").replace("/", ".")
        sample = module in sampled and not full
        chosen[module] = f"{dotted}.{SAMPLE}" if sample else f"{dotted}.*"
    return chosen


def equivalents() -> dict[str, str]:
    """Mutants docs/testing.md lists as equivalent, with their one-line reason."""
    path = ROOT / "docs" / "testing.md"
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    return dict(re.findall(r"^- `([\w.ǁ]+__mutmut_\d+)`: (.+)$", text, re.MULTILINE))


def owed() -> set[str]:
    """Survivors named in docs/testing.md's section of those still owed a test."""
    path = ROOT / "docs" / "testing.md"
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    section = text.partition("### Survivors not yet killed")[2].partition("\n## ")[0]
    return set(re.findall(r"`([\w.ǁ]+__mutmut_\d+)`", section))


def results(chosen: dict[str, str]) -> dict[str, dict[str, int | None]]:
    """{module path: {mutant name: exit code}} read from mutmut's own records."""
    found: dict[str, dict[str, int | None]] = {}
    for module, pattern in chosen.items():
        meta = ROOT / "mutants" / (module + ".meta")
        codes = json.loads(meta.read_text())["exit_code_by_key"] if meta.exists() else {}
        found[module] = {k: v for k, v in codes.items() if fnmatch.fnmatch(k, pattern)}
    return found


def report(found: dict[str, dict[str, int | None]], known: dict[str, str]) -> float:
    """Print the score per module and each survivor; return the overall score.

    The score is the usual one: killed / (mutants - equivalent ones), where the
    equivalent ones are those docs/testing.md lists with a reason.  The raw
    share (equivalents counted as survivors) is printed beside it.
    """
    total = Counter[str]()
    header = ("module", "mutants", "killed", "survived", "equiv.", "raw", "score")
    print("\n{:<24} {:>8} {:>7} {:>9} {:>7} {:>7} {:>7}".format(*header))
    survivors: list[str] = []
    for module, codes in found.items():
        count = Counter[str]()
        for name, code in codes.items():
            if code in SKIPPED:
                continue
            if code is None:  # not run (yet): neither killed nor survived
                count["unchecked"] += 1
                continue
            count["all"] += 1
            if code in KILLED:
                count["killed"] += 1
                continue
            survivors.append(name)
            count["equivalent" if name in known else "survived"] += 1
        total.update(count)
        print(_row(module, count))
    if total["unchecked"]:
        print(f"{total['unchecked']} mutants not checked (an interrupted run?): not in the score")
    print(_row("all", total) + f"  (goal {GOAL:.0f} %)")
    listed = owed()
    unexplained = [name for name in survivors if name not in known and name not in listed]
    if survivors:
        print(f"\nsurvivors ({len(survivors)}; `mutmut show NAME` prints the change):")
        for name in survivors:
            why = known.get(name)
            note = f"  [equivalent: {why}]" if why else ""
            note = "  [owed a test: docs/testing.md]" if name in listed else note
            print(f"  {name}{note}")
    if unexplained:
        print(f"\n{len(unexplained)} survivor(s) neither killed nor listed in docs/testing.md")
    return _score(total)


def _score(count: Counter[str]) -> float:
    tested = count["all"] - count["equivalent"]
    return 100.0 * count["killed"] / tested if tested else 0.0


def _row(name: str, count: Counter[str]) -> str:
    raw = 100.0 * count["killed"] / count["all"] if count["all"] else 0.0
    return (
        f"{name:<24} {count['all']:>8} {count['killed']:>7} {count['survived']:>9}"
        f" {count['equivalent']:>7} {raw:>6.1f}% {_score(count):>6.1f}%"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tox -e mutation --", description=__doc__.split("\n")[0])
    parser.add_argument("--full", action="store_true", help="every mutant, not the CI sample")
    parser.add_argument("--max-children", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--report-only", action="store_true", help="print the last run's results")
    options = parser.parse_args(argv)
    full = options.full or os.environ.get("TCPCHAT_MUTATION_FULL", "") not in ("", "0")
    modules, sampled = settings()
    chosen = patterns(modules, sampled, full)
    if not options.report_only:
        command = ["mutmut", "run", "--max-children", str(options.max_children)]
        command += [] if full else list(chosen.values())
        print("$", " ".join(command), flush=True)
        # mutmut's own exit status says nothing about the score; ours does.  Its output is
        # a live counter: shown only if it failed (e.g. the tests did not even collect).
        done = subprocess.run(
            command, cwd=ROOT, check=False, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        if done.returncode != 0:
            tail = done.stdout.decode(errors="replace").replace("\r", "\n")[-4000:]
            print(tail, f"\nmutmut exited with {done.returncode}", file=sys.stderr)
    found = results(chosen)
    if not any(found.values()):
        print("no mutation results under mutants/: did mutmut run?", file=sys.stderr)
        return 1
    what = (
        "full run"
        if full
        else "CI run (the full run: --full); "
        + ", ".join(
            f"{module}: {'1 in 5' if pattern.endswith(SAMPLE) else 'all'}"
            for module, pattern in chosen.items()
        )
    )
    print(what)
    if not any(code is not None for codes in found.values() for code in codes.values()):
        print("no mutant was checked: see mutmut's output above", file=sys.stderr)
        return 1
    score = report(found, equivalents())
    if score < GOAL:
        print(f"\nFAIL: {score:.1f} % killed, below the goal of {GOAL:.0f} %")
        return 1
    print(f"\nOK: {score:.1f} % killed (goal {GOAL:.0f} %)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
