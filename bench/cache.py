"""TryFromCache: job latency on a miss (body runs, value stored) against a hit (body skipped).

    python bench/cache.py [--runs N]

The body is ``math.SleepSync(seconds=cost)`` then ``math.Nonce`` at the site ``alpha``
of a copy of the runner's test federation (its cache_config: a folder in a temporary
directory), yielded at the homesite. For each transport (inproc, process) and body cost
(0 s: the cache's own overhead; 0.2 s: an expensive body), the median wall time of
``session.execute(...)`` to its last result, for: no cache block, a miss (a fresh key
each run), and a hit (the same prepared pipeline again). Prints a table and writes
bench/out/cache.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from dfm.api import Pipeline, PlaceParam, TryFromCache, Yield, load_federation
from dfm.runner import JobStatus, Session
from dfm.runner.testing import MATHFED

OUT = Path(__file__).parent / "out" / "cache.json"


def pipeline(api: Any, key: str | None) -> Pipeline:
    with Pipeline() as p:
        if key is None:
            value = api.Nonce(x=api.SleepSync(seconds=PlaceParam("cost"), site="alpha"), site="alpha")
        else:
            with TryFromCache(key) as value:
                slow = api.SleepSync(seconds=PlaceParam("cost"), site="alpha")
                value.cache(api.Nonce(x=slow, site="alpha"))
        Yield(value, place="value")
    return p


def timed(session: Session, prepared: Any, cost: float) -> tuple[float, Any]:
    start = time.perf_counter()
    job = session.execute(prepared, {"cost": cost})
    values = [r.value for r in job.results(timeout=120)]
    elapsed = time.perf_counter() - start
    assert job.status is JobStatus.FINISHED and len(values) == 1, job.error
    return elapsed, values[0]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in ("mathfed.dfm.yaml", "mathfed_adapters.py"):
            shutil.copy(MATHFED.parent / name, tmp)
        config = Path(tmp) / "mathfed.dfm.yaml"
        api = load_federation(config).api.math
        for transport in ("inproc", "process"):
            with Session(config, transport=transport) as session:
                plain = session.prepare(pipeline(api, None))
                timed(session, plain, 0)  # warm-up: sites started, adapters created
                for cost in (0.0, 0.2):
                    none, miss, hit = [], [], []
                    for _ in range(args.runs):
                        none.append(timed(session, plain, cost)[0])
                        prepared = session.prepare(pipeline(api, f"bench-{uuid.uuid4().hex}"))
                        t_miss, stored = timed(session, prepared, cost)
                        t_hit, served = timed(session, prepared, cost)
                        assert served == stored  # the hit served the stored value
                        miss.append(t_miss)
                        hit.append(t_hit)
                    row = {
                        "transport": transport,
                        "body_seconds": cost,
                        "no_cache_ms": statistics.median(none) * 1e3,
                        "miss_ms": statistics.median(miss) * 1e3,
                        "hit_ms": statistics.median(hit) * 1e3,
                        "runs": args.runs,
                    }
                    rows.append(row)
                    print(
                        f"{transport:8} body {cost:.1f} s: no cache {row['no_cache_ms']:8.2f} ms, "
                        f"miss {row['miss_ms']:8.2f} ms, hit {row['hit_ms']:8.2f} ms"
                    )
    OUT.parent.mkdir(exist_ok=True)
    OUT.write_text(
        json.dumps(
            {"machine": platform.platform(), "python": platform.python_version(), "rows": rows}, indent=2
        )
    )


if __name__ == "__main__":
    main()
