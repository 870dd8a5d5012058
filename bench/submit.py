"""``dfm fed submit``: a ForEach over N items, against the runner's own token rate, in one run.

    python bench/submit.py [--items 200000] [--rounds 3]

Runs, alternating, rounds of:
- ``dfm fed submit bench/benchfed/benchfed.dfm.yaml pipeline bench/pipelines/foreach.py -- N``
  as a whole process, its output to a file (stderr not a terminal: no progress line);
- the same with stderr on a pseudo-terminal, so the progress line runs;
- the same command with 10 items (start-up: interpreter, imports, config, compile);
- in this process, a Session on the same federation and pipeline (what bench/run.py measures
  as "tokens/s across two sites", inproc, codec on).
Prints medians, the token rates and their ratio, and writes bench/out/submit.json. Target
(issue 17): the command within 2x of the runner's token rate; the progress line costs
nothing measurable.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import pty
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
FED = HERE / "benchfed" / "benchfed.dfm.yaml"
PIPELINE = HERE / "pipelines" / "foreach.py"


def dfm() -> list[str]:
    script = Path(sys.executable).parent / "dfm"
    return [str(script)] if script.exists() else [sys.executable, "-m", "dfm.cli"]


def run_cli(items: int, tty: bool) -> float:
    command = [*dfm(), "fed", "submit", str(FED), "pipeline", str(PIPELINE), "--", str(items)]
    with tempfile.TemporaryFile() as out:
        if tty:
            leader, follower = pty.openpty()
            try:
                start = time.perf_counter()
                proc = subprocess.Popen(command, stdout=out, stderr=follower, cwd=ROOT)
                os.close(follower)
                follower = -1
                while True:  # keep the terminal drained so the progress line never blocks
                    try:
                        if not os.read(leader, 65536):
                            break
                    except OSError:
                        break
                code = proc.wait()
                elapsed = time.perf_counter() - start
            finally:
                os.close(leader)
                if follower >= 0:
                    os.close(follower)
        else:
            start = time.perf_counter()
            code = subprocess.run(command, stdout=out, stderr=subprocess.DEVNULL, cwd=ROOT).returncode
            elapsed = time.perf_counter() - start
        out.seek(0)
        lines = sum(1 for _ in out)
    assert code == 0 and lines == items, (code, lines, items)
    return elapsed


def run_session(items: int) -> float:
    from dfm.api import load_federation
    from dfm.api.files import parameters_from, pipeline_from, run_pipeline_file
    from dfm.runner import Session

    handle = load_federation(FED)
    module = run_pipeline_file(PIPELINE)
    with Session(handle) as session:
        prepared = session.prepare(pipeline_from(module, handle))
        session.execute(prepared, {"n": 10}).wait(60)
        start = time.perf_counter()
        received = sum(1 for _ in session.execute(prepared, parameters_from(module, [str(items)])).results())
        elapsed = time.perf_counter() - start
    assert received == items
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    n = args.items
    times: dict[str, list[float]] = {"cli": [], "cli_tty": [], "cli_10_items": [], "session": []}
    run_cli(10, False)  # warm caches
    for _ in range(args.rounds):
        times["cli"].append(run_cli(n, False))
        times["cli_tty"].append(run_cli(n, True))
        times["cli_10_items"].append(run_cli(10, False))
        times["session"].append(run_session(n))
    med = {k: statistics.median(v) for k, v in times.items()}
    rates = {
        "session_tokens_per_s": n / med["session"],
        "cli_tokens_per_s_whole_process": n / med["cli"],
        "cli_tokens_per_s_net_of_startup": n / (med["cli"] - med["cli_10_items"]),
    }
    ratios = {
        "session_over_cli_whole_process": rates["session_tokens_per_s"]
        / rates["cli_tokens_per_s_whole_process"],
        "session_over_cli_net_of_startup": rates["session_tokens_per_s"]
        / rates["cli_tokens_per_s_net_of_startup"],
        "cli_tty_over_cli": med["cli_tty"] / med["cli"],
    }
    print(f"ForEach over {n:,} items, {args.rounds} rounds, medians")
    for k, v in med.items():
        print(f"  {k:<36} {v:8.3f} s   ({', '.join(f'{x:.2f}' for x in times[k])})")
    for k, v in rates.items():
        print(f"  {k:<36} {v:10,.0f}")
    for k, v in ratios.items():
        print(f"  {k:<36} {v:8.2f}x")
    out = HERE / "out"
    out.mkdir(exist_ok=True)
    (out / "submit.json").write_text(
        json.dumps(
            {
                "machine": f"{platform.machine()} python {platform.python_version()}",
                "items": n,
                "times_s": times,
                "medians_s": med,
                "rates": rates,
                "ratios": ratios,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    sys.exit(main())
