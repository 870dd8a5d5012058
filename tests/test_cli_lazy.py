"""``dfm --help`` with every installed DFM distribution imports only plugin modules.

Runs in the integration environment (all core distributions installed), so
it catches a distribution whose ``plugin.py`` or package ``__init__`` pulls in
its implementation (networkx, nvflare, the config loader...) at CLI start-up.
Timing is measured by ``bench/cli_help.py``, never here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

PROBE = """
import json, sys
from dfm.cli.main import main
try:
    main(["--help"])
except SystemExit as exc:
    code = exc.code
print(json.dumps({"code": code, "modules": sorted(sys.modules)}))
"""

# Libraries that only the implementations need (importlib.metadata: ~50 ms; entry points
# are read by dfm.kernel.entrypoints without it).
HEAVY_LIBRARIES = ("networkx", "constraint", "nvflare", "numpy", "cattrs", "yaml", "importlib.metadata")
# DFM modules that only commands and implementations need.
HEAVY_DFM = ("dfm.cli.commands", "dfm.kernel.config", "dfm.kernel.ir", "dfm.kernel.codecs", "dfm.api")
CORE = ("dfm.compiler", "dfm.runner", "dfm.flare")


def heavy(module: str) -> bool:
    if any(module == lib or module.startswith(lib + ".") for lib in HEAVY_LIBRARIES):
        return True
    if module.startswith(HEAVY_DFM):
        return True
    # dfm.compiler and dfm.compiler.plugin are fine; any other dfm.compiler.* is implementation
    return any(module.startswith(core + ".") and module != core + ".plugin" for core in CORE)


# With a valid cached listing (dfm.cli.helpcache), --help loads no plugin at all: no plugin
# manager, no pluggy, no attrs records.
WARM_HEAVY = ("attr", "pluggy", "dfm.kernel", "dfm.cli.records", "dfm.cli.hookspecs", "dfm.adapters")


def _help_modules(env: dict[str, str]) -> tuple[dict, str]:
    result = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=120, env=env, check=False
    )
    return json.loads(result.stdout.strip().splitlines()[-1]), result.stderr


def test_help_imports_nothing_heavy(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("DFM_")}
    env["DFM_CACHE_DIR"] = str(tmp_path / "cache")  # cold: every plugin module is loaded
    report, stderr = _help_modules(env)

    assert report["code"] == 0, stderr
    offenders = [m for m in report["modules"] if heavy(m)]
    assert offenders == [], (
        "'dfm --help' imported implementation modules; keep plugin.py and package __init__ "
        f"modules free of heavy imports (see docs/plugins/index.md): {offenders}"
    )

    warm, stderr = _help_modules(env)  # the listing cached by the first run
    assert warm["code"] == 0, stderr
    offenders = [m for m in warm["modules"] if heavy(m) or m.startswith(WARM_HEAVY)]
    assert offenders == [], f"'dfm --help' with a cached listing imported {offenders}"
