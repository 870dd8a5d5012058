"""``dfm fed gen code`` for a federation of 1,000 operations (target: under 2 s).

Times the whole command as a user runs it (a fresh ``dfm`` process: imports,
config loading, generation, writing), best of 3, and writes bench/out/codegen.json.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

OPERATIONS = 1000
SITES = 4


def config_text() -> str:
    lines = ["dfm: 1.0.0", "info: {api-version: 1.0.0, code-package: bigfed}", "schemas:"]
    lines += ["  geo.Box:", "    type: object", "    properties: {w: {type: number}, e: {type: number}}"]
    lines.append("operations:")
    for i in range(OPERATIONS):
        lines += [
            f"  ns{i % 20}.Op{i}:",
            f"    description: Operation number {i}.",
            "    parameters:",
            "      name: {type: string, description: A name.}",
            "      count: {type: integer, default: 3}",
            '      box: {type: "#/schemas/geo.Box"}',
            "    required: [name]",
        ]
    lines.append("sites:")
    for s in range(SITES):
        lines += [f"  site{s}:", "    interface:"]
        for i in range(s, OPERATIONS, SITES):
            lines += [f'      "#/operations/ns{i % 20}.Op{i}":', "        adapter: bigfed_adapters.Op"]
    return "\n".join(lines) + "\n"


def main() -> None:
    folder = Path(tempfile.mkdtemp(prefix="dfm-bench-codegen-"))
    try:
        config = folder / "bigfed.dfm.yaml"
        config.write_text(config_text())
        command = [sys.executable, "-c", "from dfm.cli.main import main; main()", "fed", "gen", "code"]
        times = []
        for _ in range(3):
            out = folder / "out"
            start = time.perf_counter()
            subprocess.run([*command, str(config), "--output-dir", str(out), "--cleanup"], check=True)
            times.append(time.perf_counter() - start)
        files = sum(1 for p in (folder / "out").rglob("*.py"))
        best = min(times)
        label = f"dfm fed gen code, {OPERATIONS} operations x {SITES} sites"
        print(f"{label}: best {best:.2f} s of 3 ({files} files)")
        out_dir = Path(__file__).parent / "out"
        out_dir.mkdir(exist_ok=True)
        (out_dir / "codegen.json").write_text(
            json.dumps({"operations": OPERATIONS, "sites": SITES, "seconds": times, "files": files}, indent=2)
        )
    finally:
        shutil.rmtree(folder)


if __name__ == "__main__":
    main()
