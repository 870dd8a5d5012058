"""``import dfm.api`` plus ``load_federation`` imports only what loading needs (issue 17).

Every ``dfm fed submit`` and every user script pays this in a fresh process. What is
deferred to first use is checked here by name, in a subprocess; the time is measured
by ``bench/fedload.py``, never here.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import dfm.api
import dfm.kernel
from dfm.kernel import advice, markers, plugins, records

PROBE = """
import json, sys
from dfm.api import load_federation
load_federation(sys.argv[1])
print(json.dumps(sorted(sys.modules)))
"""

# Modules a correct config never needs: the plugin machinery (pluggy, entry points, the
# record classes), the IR converter and the net IR (serializing pipelines), discovery's
# advice, JSON Schema checks of arguments, did-you-mean hints, and packaging (only for
# unusual version strings and pins).
DEFERRED = (
    "pluggy",
    "importlib.metadata",
    "jsonschema",
    "difflib",
    "dfm.kernel.plugins",
    "dfm.kernel.records",
    "dfm.kernel.entrypoints",
    "dfm.kernel.hookspecs",
    "dfm.kernel.markers",
    "dfm.kernel.ir.serde",
    "dfm.kernel.ir.net",
    "dfm.kernel.advice",
    "cattrs.preconf.json",
    "packaging",
    "networkx",
    "constraint",
    "dfm.compiler",
    "dfm.runner",
)


def _imported_by_load(path: object) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, str(path)], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    modules: list[str] = json.loads(done.stdout.strip().splitlines()[-1])
    return modules


def _offenders(modules: list[str]) -> list[str]:
    return [m for m in modules if any(m == d or m.startswith(d + ".") for d in DEFERRED)]


def test_loading_examplefed_imports_nothing_deferred(examplefed_path):
    modules = _imported_by_load(examplefed_path)
    assert "dfm.kernel.config.loader" in modules  # the probe did load it
    assert _offenders(modules) == []


def test_loading_a_config_that_pins_plugins_imports_nothing_deferred(tmp_path, examplefed_path):
    text = examplefed_path.read_text(encoding="utf-8")
    pinned = tmp_path / "pinned.dfm.yaml"
    pinned.write_text(
        text.replace("\nhomesite:", '\nplugins:\n  dfm-adapter-builtin: ">=0.1, <0.2"\nhomesite:', 1),
        encoding="utf-8",
    )
    modules = _imported_by_load(pinned)
    assert "dfm.kernel.config.loader" in modules
    assert _offenders(modules) == []


def test_deferred_names_are_still_importable():
    namespace: dict[str, object] = {}
    exec("from dfm.api import *", namespace)  # the star import is what is tested
    assert set(dfm.api.__all__) <= set(namespace)
    assert namespace["Okay"] is advice.Okay
    assert namespace["field_advisor"] is advice.field_advisor
    assert {"AdvisedOneOf", "Okay", "load_federation"} <= set(dir(dfm.api))

    assert dfm.kernel.hookimpl is markers.hookimpl
    assert dfm.kernel.DfmPluginManager is plugins.DfmPluginManager
    assert dfm.kernel.AdapterEntry is records.AdapterEntry
    assert set(dfm.kernel.__all__) <= set(dir(dfm.kernel))
    assert dfm.kernel.records is records  # a submodule the package used to import eagerly
    from dfm.kernel import hookspecs

    assert hookspecs.__name__ == "dfm.kernel.hookspecs"


@pytest.mark.parametrize("module", [dfm.api, dfm.kernel])
def test_unknown_names_are_attribute_errors(module):
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        module.Nope  # noqa: B018
    assert not hasattr(module, "Nope")


def test_ir_converter_is_made_once_on_first_use():
    from dfm.kernel.ir import pipeline as ir
    from dfm.kernel.ir import serde

    assert serde.ir_converter is serde.ir_converter
    call = ir.Call("n1", "users.GreetMe", {"name": ir.Param("name")})
    pipeline = ir.PipelineIR((call, ir.Yield("n2", ir.Ref("n1"), "greeting")), ("name",), "greetings")
    assert serde.from_data(serde.to_data(pipeline), ir.PipelineIR) == pipeline
    with pytest.raises(AttributeError):
        serde.not_there  # noqa: B018
