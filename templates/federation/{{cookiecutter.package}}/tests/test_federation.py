"""{{ cookiecutter.federation_name }}: the config is valid and the demo pipeline greets at every site."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from dfm.api import load_federation
from dfm.runner import Session

HERE = Path(__file__).resolve().parents[1]
CONFIG = HERE / "{{ cookiecutter.package }}.dfm.yaml"


def _demo():
    spec = importlib.util.spec_from_file_location("{{ cookiecutter.package }}_demo", HERE / "demo.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_site_greets():
    fed = load_federation(CONFIG)
    demo = _demo()
    with Session(fed) as session:
        job = session.execute(session.prepare(demo.get_pipeline(fed)), demo.get_pipeline_parameters(["Ada"]))
        got = {r.place: r.value for r in job.results(timeout=60)}
    assert got == {site: f"Hello, Ada! Greetings from {site}." for site in fed.config.sites}
