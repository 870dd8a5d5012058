"""What a fresh process pays to import ``dfm.api`` and load a federation, before and after a change.

    python bench/fedload.py --before REV [--runs N] [--warmup N]

Runs ``python -c ...`` in fresh processes for four cases: ``pass`` (the interpreter
alone), ``import dfm.api``, and ``import dfm.api`` plus ``load_federation`` of
examplefed and of clinics (issue 17: every ``dfm fed submit`` and every user script
pays this). Each case runs with the DFM sources of two trees, **before** (revision
REV, from ``git archive``; default ``HEAD``) and **after** (this working tree), both
copied without ``__pycache__`` into a temporary folder and put first on
``PYTHONPATH``, so that the same interpreter and installed dependencies serve both.
The federation files are this working tree's for both.

Two bytecode modes:

- ``cached``: bytecode written (``PYTHONPYCACHEPREFIX``, one folder per tree) and
  filled by the warm-up runs, as on a machine that writes it;
- ``uncached``: ``PYTHONDONTWRITEBYTECODE=1`` and no cache for the DFM sources (they
  are compiled in every process), as on a machine that sets it; installed packages
  use whatever bytecode their installer wrote.

Every round runs each case and mode once per tree, before and after alternately
(the order flips each round), so that both see the same machine load; the tables
give wall time and CPU time (user + system, less disturbed by other processes on a
busy machine): medians and ranges over rounds and the median of the per-round
ratios after / before. Prints the table, the load average before and after, the heavy
modules each tree has imported after loading examplefed, and writes
``bench/out/fedload.json``. A benchmark, not a test: nothing here fails on time.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out" / "fedload.json"
EXAMPLEFED = ROOT / "federations" / "examplefed" / "examplefed.dfm.yaml"
CLINICS = ROOT / "federations" / "clinics" / "clinics.dfm.yaml"
LOAD = "from dfm.api import load_federation; load_federation({path!r})"
CASES = {
    "python -c pass": "pass",
    "import dfm.api": "import dfm.api",
    "+ load examplefed": LOAD.format(path=str(EXAMPLEFED)),
    "+ load clinics": LOAD.format(path=str(CLINICS)),
}
MODES = ("cached", "uncached")
KINDS = ("wall", "cpu")
SIDES = ("before", "after")
# Modules the common path should not need; reported per tree, not asserted here.
HEAVY = (
    "cattrs.preconf.json",
    "dfm.kernel.advice",
    "dfm.kernel.ir.net",
    "dfm.kernel.ir.serde",
    "dfm.kernel.plugins",
    "dfm.kernel.records",
    "hashlib",
    "importlib.metadata",
    "jsonschema",
    "packaging.specifiers",
    "pluggy",
)
PROBE = (
    LOAD.format(path=str(EXAMPLEFED))
    + "\nimport sys, dfm.kernel\n"
    + "print(dfm.kernel.__file__)\n"
    + f"print(' '.join(sorted(m for m in {HEAVY!r} if m in sys.modules)))\n"
)


def export_trees(before: str, into: Path) -> dict[str, Path]:
    """``packages/*/src`` of revision ``before`` and of the working tree, copied under ``into``."""
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", "--format=tar", before, "--", "packages"],
        capture_output=True,
        check=True,
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(into / "before", filter="data")
    for src in sorted((ROOT / "packages").glob("*/src")):
        target = into / "after" / src.relative_to(ROOT)
        shutil.copytree(src, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return {side: into / side for side in SIDES}


def environments(trees: dict[str, Path], scratch: Path) -> dict[tuple[str, str], dict[str, str]]:
    """The environment of each (side, mode): PYTHONPATH first, bytecode written or not."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("DFM_", "PYTHON"))}
    envs = {}
    for side, tree in trees.items():
        path = os.pathsep.join(str(p) for p in sorted((tree / "packages").glob("*/src")))
        envs[side, "cached"] = {
            **base,
            "PYTHONPATH": path,
            "PYTHONPYCACHEPREFIX": str(scratch / f"pyc-{side}"),
        }
        envs[side, "uncached"] = {**base, "PYTHONPATH": path, "PYTHONDONTWRITEBYTECODE": "1"}
    return envs


def run(code: str, env: dict[str, str]) -> tuple[float, float]:
    """Wall time and CPU time (user + system) of one process, in ms."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], env=env, check=True, stdout=subprocess.DEVNULL)
    wall = (time.perf_counter() - start) * 1000.0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime) * 1000.0
    return wall, cpu


def stats(values: list[float], digits: int = 1) -> dict[str, float]:
    return {
        "median": round(statistics.median(values), digits),
        "min": round(min(values), digits),
        "max": round(max(values), digits),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--before", default="HEAD", help="git revision of the 'before' sources (default HEAD)"
    )
    parser.add_argument("--runs", type=int, default=15, help="rounds (each runs every case, mode and tree)")
    parser.add_argument("--warmup", type=int, default=2, help="warm-up runs per case and tree (cached mode)")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)

    scratch = Path(tempfile.mkdtemp(prefix="dfm-fedload-"))
    try:
        trees = export_trees(args.before, scratch)
        envs = environments(trees, scratch)
        heavy: dict[str, list[str]] = {}
        for side in SIDES:  # each tree imports its own copy; and what it imported
            probe = subprocess.run(
                [sys.executable, "-c", PROBE],
                env=envs[side, "uncached"],
                capture_output=True,
                text=True,
                check=True,
            )
            where, imported = [*probe.stdout.splitlines(), "", ""][:2]
            if not where.startswith(str(trees[side])):
                raise SystemExit(f"{side}: dfm.kernel came from {where}, not from {trees[side]}")
            heavy[side] = imported.split()
        for side in SIDES:
            for code in CASES.values():
                for _ in range(args.warmup):
                    run(code, envs[side, "cached"])

        load_start = os.getloadavg()
        # (mode, case, side, "wall" | "cpu") -> ms per round; (mode, case, kind) -> after/before per round
        times: dict[tuple[str, str, str, str], list[float]] = {}
        ratios: dict[tuple[str, str, str], list[float]] = {}
        for round_ in range(args.runs):
            order = SIDES if round_ % 2 == 0 else SIDES[::-1]
            for mode in MODES:
                for label, code in CASES.items():
                    got = {side: run(code, envs[side, mode]) for side in order}
                    for k, kind in enumerate(KINDS):
                        for side in SIDES:
                            times.setdefault((mode, label, side, kind), []).append(got[side][k])
                        ratios.setdefault((mode, label, kind), []).append(got["after"][k] / got["before"][k])
        load_end = os.getloadavg()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)

    results: dict[str, Any] = {}
    print(f"fresh processes, {args.runs} alternating rounds; before = {args.before}, after = this tree")
    print(f"load average {load_start[0]:.2f} at the start, {load_end[0]:.2f} at the end")
    for kind in KINDS:
        title = "wall time" if kind == "wall" else "CPU time (user + system)"
        print(f"\n{title}, ms: median (min-max) over rounds; after/before: median of the per-round ratios")
        header = f"{'mode':9}{'case':20}{'before':>20}{'after':>20}{'after/before':>22}"
        print(header)
        print("-" * len(header))
        for mode in MODES:
            for label in CASES:
                row = {side: stats(times[mode, label, side, kind]) for side in SIDES}
                row["ratio"] = stats(ratios[mode, label, kind], digits=3)
                results.setdefault(kind, {}).setdefault(mode, {})[label] = row
                cells = [f"{row[s]['median']:6.1f} ({row[s]['min']:.0f}-{row[s]['max']:.0f})" for s in SIDES]
                r = row["ratio"]
                print(
                    f"{mode:9}{label:20}{cells[0]:>20}{cells[1]:>20}"
                    f"{r['median']:>8.2f} ({r['min']:.2f}-{r['max']:.2f})"
                )
    for side in SIDES:
        print(f"\n{side}: imported after loading examplefed: {', '.join(heavy[side]) or 'none of the list'}")

    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(
            {
                "benchmark": "fedload",
                "before": args.before,
                "runs": args.runs,
                "warmup": args.warmup,
                "python": platform.python_version(),
                "platform": platform.platform(),
                "cpus": os.cpu_count(),
                "loadavg_start": [round(x, 2) for x in load_start],
                "loadavg_end": [round(x, 2) for x in load_end],
                "results_ms": results,  # kind (wall, cpu) -> mode -> case -> before/after/ratio
                "heavy_modules_imported": heavy,
            },
            indent=1,
        )
        + "\n"
    )
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
