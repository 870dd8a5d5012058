"""examples/federation.dfm.yaml is a valid federation served by this package's adapters."""

from __future__ import annotations

from pathlib import Path

import pytest
from dfm.kernel import DfmPluginManager
from dfm.kernel.config import load_config

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "federation.dfm.yaml"
DISTRIBUTION = "dfm-adapter-{{ cookiecutter.hyphenated }}"


def test_example_config_validates():
    federation = load_config(EXAMPLE)  # raises ConfigError listing every problem with file:line:column
    manager = DfmPluginManager(strict=True)
    manager.load_entry_points()
    manager.check_pins(federation.plugins)
    registry = manager.registry("adapters")
    for site in federation.sites:
        for operation, (_provider, entry) in federation.offers(site).items():
            assert entry.adapter in registry, f"{site}: {operation} uses unknown adapter {entry.adapter}"
            provenance = registry[entry.adapter].provenance
            assert provenance is not None and provenance.distribution == DISTRIBUTION


def test_example_federation_runs():
    """End to end on the embedded target, when dfm-runner is installed."""
    pytest.importorskip("dfm.runner")
    from dfm.api import Pipeline, PlaceParam, Yield, load_federation
    from dfm.runner import JobStatus, Session

    federation = load_federation(EXAMPLE)
    hello = federation.operations["{{ cookiecutter.operation_namespace }}.Hello"]
    with Pipeline() as pipeline:
        for site in ("home", "partner"):
            Yield(hello(name=PlaceParam("name"), site=site), place=site)
    with Session(federation) as session:
        job = session.execute(session.prepare(pipeline), {"name": "Ada"})
        results = {result.place: result.value for result in job.results(timeout=60)}
    assert job.status is JobStatus.FINISHED
    assert results == {"home": "Hello, Ada! (from home)", "partner": "Welcome, Ada! (from partner)"}
