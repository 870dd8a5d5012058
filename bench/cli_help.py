"""Wall time of ``dfm --help`` against a bare interpreter start, in the same run.

    python bench/cli_help.py [--runs N] [--warmup N]

Runs each command N times as a subprocess (after warm-up runs that fill the
OS and bytecode caches), prints a table of median / p90 / min times and the
overhead over ``python -c pass``, checks that ``--help`` imported nothing
heavy, and writes ``bench/out/cli_help.json``. Target: ``dfm --help`` under
150 ms. A benchmark, not a test: it never fails on time.

Then ``dfm --help`` is run alternately with ``python -c "import click"`` (A B A B ...)
and the ratio taken pair by pair (issue 17: at most 1.5x), twice: with the command
listing cached (``dfm.cli.helpcache``, the usual case) and with an empty cache folder
for every run (every plugin module loaded, the listing written). The cache lives in a
temporary ``DFM_CACHE_DIR`` for the whole script.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

TARGET_MS = 150.0
OUT = Path(__file__).resolve().parent / "out" / "cli_help.json"
HEAVY = (
    "dfm.cli.commands",
    "dfm.kernel.config",
    "cattrs",
    "yaml",
    "networkx",
    "nvflare",
    "constraint",
    "importlib.metadata",
)
PROBE = (
    "import sys\n"
    "from dfm.cli.main import main\n"
    "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
    f"print('\\n'.join(sorted(m for m in sys.modules if m.startswith({HEAVY!r}))), file=sys.stderr)\n"
)


def dfm_command() -> list[str]:
    """The installed console script next to this interpreter, else ``python -m``-style import of main."""
    script = Path(sys.executable).parent / ("dfm.exe" if os.name == "nt" else "dfm")
    if script.exists():
        return [str(script), "--help"]
    found = shutil.which("dfm")
    if found:
        return [found, "--help"]
    return [sys.executable, "-c", "from dfm.cli.main import main; main(['--help'])"]


def time_runs(command: list[str], runs: int, warmup: int, env: dict[str, str]) -> list[float]:
    for _ in range(warmup):
        subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, check=True)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, check=True)
        times.append((time.perf_counter() - start) * 1000.0)
    return times


def paired(
    a: list[str], b: list[str], runs: int, env: dict[str, str], cold: bool = False
) -> dict[str, float]:
    """Median A and B wall times and the median of the per-pair ratios A/B, run alternately."""
    import tempfile

    a_times, b_times, ratios = [], [], []
    for _ in range(runs):
        run_env = env
        if cold:
            run_env = {**env, "DFM_CACHE_DIR": tempfile.mkdtemp(prefix="dfm-help-cold-")}
        start = time.perf_counter()
        subprocess.run(a, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=run_env, check=True)
        middle = time.perf_counter()
        subprocess.run(b, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=run_env, check=True)
        end = time.perf_counter()
        a_times.append((middle - start) * 1000.0)
        b_times.append((end - middle) * 1000.0)
        ratios.append((middle - start) / (end - middle))
        if cold:
            shutil.rmtree(run_env["DFM_CACHE_DIR"], ignore_errors=True)
    return {
        "a_median_ms": round(statistics.median(a_times), 2),
        "b_median_ms": round(statistics.median(b_times), 2),
        "ratio_median": round(statistics.median(ratios), 3),
        "ratio_min": round(min(ratios), 3),
        "ratio_max": round(max(ratios), 3),
    }


def summary(times: list[float]) -> dict[str, float]:
    ordered = sorted(times)
    return {
        "median_ms": round(statistics.median(ordered), 2),
        "p90_ms": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.9))], 2),
        "min_ms": round(ordered[0], 2),
        "max_ms": round(ordered[-1], 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=21)
    parser.add_argument("--warmup", type=int, default=3)
    options = parser.parse_args()
    # Installers (pip) compile bytecode; let the warm-up runs write it even where the shell disables it.
    env = {k: v for k, v in os.environ.items() if not k.startswith("DFM_") and k != "PYTHONDONTWRITEBYTECODE"}
    import tempfile

    cache_dir = tempfile.mkdtemp(prefix="dfm-help-cache-")
    env["DFM_CACHE_DIR"] = cache_dir  # the listing cache of this run (warm after the warm-up runs)

    commands = {
        "python -c pass": [sys.executable, "-c", "pass"],
        "python -c 'import click'": [sys.executable, "-c", "import click"],
        "dfm --help": dfm_command(),
    }
    results = {}
    for label, command in commands.items():
        results[label] = summary(time_runs(command, options.runs, options.warmup, env))

    click_only = commands["python -c 'import click'"]
    ratio_warm = paired(commands["dfm --help"], click_only, options.runs, env)
    ratio_cold = paired(commands["dfm --help"], click_only, max(5, options.runs // 2), env, cold=True)

    probe = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, env=env, check=True)
    heavy_imported = [line for line in probe.stderr.splitlines() if line.strip()]

    baseline = results["python -c pass"]["median_ms"]
    help_ms = results["dfm --help"]["median_ms"]
    print(f"dfm --help wall time, {options.runs} runs each (after {options.warmup} warm-up runs)\n")
    print(f"{'command':28} {'median':>9} {'p90':>9} {'min':>9} {'over baseline':>14}")
    for label, stats in results.items():
        over = stats["median_ms"] - baseline
        print(
            f"{label:28} {stats['median_ms']:7.1f}ms {stats['p90_ms']:7.1f}ms {stats['min_ms']:7.1f}ms "
            f"{over:12.1f}ms"
        )
    verdict = "meets" if help_ms < TARGET_MS else "misses"
    print(f"\ndfm --help median {help_ms:.1f} ms {verdict} the {TARGET_MS:.0f} ms target")
    print("heavy modules imported by --help:", ", ".join(heavy_imported) or "none")
    for label, ratio in (("cached listing", ratio_warm), ("empty cache", ratio_cold)):
        print(
            f"dfm --help / python -c 'import click', paired, {label}: median {ratio['ratio_median']:.2f}x "
            f"(min {ratio['ratio_min']:.2f}, max {ratio['ratio_max']:.2f}; "
            f"{ratio['a_median_ms']:.1f} / {ratio['b_median_ms']:.1f} ms)"
        )
    shutil.rmtree(cache_dir, ignore_errors=True)

    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(
        json.dumps(
            {
                "benchmark": "cli_help",
                "runs": options.runs,
                "warmup": options.warmup,
                "python": platform.python_version(),
                "platform": platform.platform(),
                "cpus": os.cpu_count(),
                "target_ms": TARGET_MS,
                "meets_target": help_ms < TARGET_MS,
                "results": results,
                "overhead_over_python_ms": round(help_ms - baseline, 2),
                "help_over_import_click_cached": ratio_warm,
                "help_over_import_click_empty_cache": ratio_cold,
                "heavy_modules_imported": heavy_imported,
            },
            indent=2,
        )
        + "\n"
    )
    print(f"wrote {OUT.relative_to(Path.cwd()) if OUT.is_relative_to(Path.cwd()) else OUT}")


if __name__ == "__main__":
    main()
