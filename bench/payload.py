"""Peak memory of large results on the ``process`` transport.

    python bench/payload.py [--mb 1024] [--kinds bytes,str,numpy] [--hops 1,2]

For each kind and route, in a fresh interpreter: a Session with the process
transport runs ``Yield(Blob(kind, mb))`` with Blob at the homesite (1 hop:
homesite -> application) or at the remote site (2 hops: remote -> homesite ->
application). Peak RSS (VmHWM, reset through /proc/PID/clear_refs just before
the job) is read for the application, the producing site and (2 hops) the
homesite; each is reported as (peak - RSS before the job) / value size. The
producing site holds the value it made (1x) by construction. Writes
bench/out/payload.json. Target (issue 17): every figure under 1.5x.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _status(pid: int | str) -> dict[str, int]:
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(rest.split()[0]) * 1024
    return out


def _reset_peak(pid: int | str) -> None:
    Path(f"/proc/{pid}/clear_refs").write_text("5")


def child(kind: str, mb: int, hops: int) -> dict[str, object]:
    from dfm.api import Pipeline, Yield, load_federation
    from dfm.runner import JobStatus, Session

    fed = load_federation(HERE / "benchfed" / "benchfed.dfm.yaml")
    with Pipeline() as p:
        Yield(fed.api.bench.Blob(kind=kind, mb=mb, site="home" if hops == 1 else "remote"), place="blob")
    size = mb * 1024 * 1024
    with Session(fed, transport="process") as session:
        prepared = session.prepare(p)
        # warm up: adapters created, connections open, numpy imported everywhere
        for warm in ("bytes", "str", "numpy"):
            with Pipeline() as w:
                Yield(fed.api.bench.Blob(kind=warm, mb=1, site="home" if hops == 1 else "remote"), place="b")
            list(session.execute(session.prepare(w)).results(timeout=60))
        pids = {"app": "self", "producer": session.transport.procs["home" if hops == 1 else "remote"].pid}
        if hops == 2:
            pids["homesite"] = session.transport.procs["home"].pid
        before = {who: _status(pid)["VmRSS"] for who, pid in pids.items()}
        for pid in pids.values():
            _reset_peak(pid)
        start = time.perf_counter()
        job = session.execute(prepared)
        (result,) = list(job.results(timeout=600))
        elapsed = time.perf_counter() - start
        if kind == "numpy":  # a mapped array costs memory once read: read a byte of every page
            result.value[::4096].sum()
        peaks = {who: _status(pid)["VmHWM"] for who, pid in pids.items()}
        assert job.status is JobStatus.FINISHED
        value = result.value
        if kind == "bytes":
            assert type(value) is bytes and len(value) == size and value[:1] == value[-1:] == b"x"
        elif kind == "str":
            assert type(value) is str and len(value) == size and value[:1] == value[-1:] == "x"
        else:
            assert value.shape == (size,) and value.dtype.name == "uint8" and int(value[-1]) == 120
        del value, result
    return {
        "kind": kind,
        "mb": mb,
        "hops": hops,
        "seconds": elapsed,
        "rss_before_MiB": {k: v / 2**20 for k, v in before.items()},
        "peak_MiB": {k: v / 2**20 for k, v in peaks.items()},
        "peak_over_size": {k: (peaks[k] - before[k]) / size for k in peaks},
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=int, default=1024)
    parser.add_argument("--kinds", default="bytes,str,numpy")
    parser.add_argument("--hops", default="1,2")
    parser.add_argument("--child", nargs=3, metavar=("KIND", "MB", "HOPS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, mb, hops = args.child
        print(json.dumps(child(kind, int(mb), int(hops))))
        return
    rows = []
    print(f"peak RSS over the value's size, {args.mb} MiB values, process transport")
    print(f"{'kind':<6} {'hops':>4} {'seconds':>8} {'app':>6} {'producer':>9} {'homesite':>9}")
    for hops in map(int, args.hops.split(",")):
        for kind in args.kinds.split(","):
            out = subprocess.run(
                [sys.executable, __file__, "--child", kind, str(args.mb), str(hops)],
                capture_output=True,
                text=True,
            )
            if out.returncode:
                why = (out.stderr.strip().splitlines() or ["?"])[-1]
                rows.append({"kind": kind, "mb": args.mb, "hops": hops, "error": why})
                print(f"{kind:<6} {hops:>4} failed: {why}", flush=True)
                continue
            row = json.loads(out.stdout.strip().splitlines()[-1])
            rows.append(row)
            over = row["peak_over_size"]
            home = f"{over['homesite']:9.2f}" if "homesite" in over else f"{'':>9}"
            print(
                f"{kind:<6} {hops:>4} {row['seconds']:8.2f} {over['app']:6.2f} "
                f"{over['producer']:9.2f} {home}",
                flush=True,
            )
    out_dir = HERE / "out"
    out_dir.mkdir(exist_ok=True)
    (out_dir / "payload.json").write_text(
        json.dumps(
            {"machine": f"{platform.machine()} python {platform.python_version()}", "rows": rows}, indent=2
        )
    )


if __name__ == "__main__":
    sys.exit(main())
