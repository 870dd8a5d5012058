"""Shared fixtures: examplefed, a synthetic 4-site federation, an isolated plugin manager."""

from __future__ import annotations

from pathlib import Path

import pytest

import dfm.compiler.plugin
from dfm.kernel import DfmPluginManager
from dfm.kernel.config import load_config, load_config_text
from dfm.kernel.config.models import Federation

# Four sites. The hospital keeps patient records (records.Query is resident there);
# the lab and the cloud train models; the homesite renders reports.
SYNTH_YAML = """
dfm: 1.0.0
info:
  api-version: 1.0.0
  code-package: synthfed
homesite: home
operations:
  records.Query:
    parameters: {cohort: {type: string}}
    returns: array
    estimated-size: 1000000
  records.Anonymize:
    parameters: {rows: {type: array}}
    estimated-size: 10000
  stats.Summarize:
    parameters: {data: {type: array}}
    estimated-size: 2000
  ml.Train:
    parameters: {data: {type: array}, epochs: {type: integer}}
    estimated-size: 50000
  report.Render:
    parameters: {model: {type: object}, summary: {type: object}}
    estimated-size: 5000
  util.Echo:
    parameters: {value: {type: any}}
    estimated-size: 100
  util.Check:
    parameters: {value: {type: any}}
    returns: boolean
    estimated-size: 8
sites:
  home:
    interface:
      "#/operations/report.Render": {adapter: synth.adapters.Render}
      "#/operations/util.Echo": {adapter: synth.adapters.Echo}
      "#/operations/util.Check": {adapter: synth.adapters.Check}
  hospital:
    interface:
      "#/operations/records.Query": {adapter: synth.adapters.Query}
      "#/operations/records.Anonymize": {adapter: synth.adapters.Anonymize}
      "#/operations/stats.Summarize": {adapter: synth.adapters.Summarize}
      "#/operations/util.Echo": {adapter: synth.adapters.Echo}
      "#/operations/util.Check": {adapter: synth.adapters.Check}
    policy:
      resident: [records.Query]
  lab:
    interface:
      "#/operations/stats.Summarize": {adapter: synth.adapters.Summarize}
      "#/operations/util.Echo": {adapter: synth.adapters.Echo}
    providers:
      gpu:
        interface:
          "#/operations/ml.Train": {adapter: synth.adapters.Train}
  cloud:
    interface:
      "#/operations/stats.Summarize": {adapter: synth.adapters.Summarize}
      "#/operations/ml.Train": {adapter: synth.adapters.Train}
      "#/operations/report.Render": {adapter: synth.adapters.Render}
      "#/operations/util.Echo": {adapter: synth.adapters.Echo}
    providers:
      spot:
        interface:
          "#/operations/ml.Train": {adapter: synth.adapters.Train}
links:
  default-cost: 1.0
  costs:
    - {sites: [home, hospital], cost: 5}
    - {sites: [home, cloud], cost: 2}
    - {sites: [hospital, cloud], cost: 3}
    - {sites: [hospital, lab], cost: 4}
    - {sites: [lab, cloud], cost: 0.5}
    - {sites: [home, lab], cost: 1}
"""


@pytest.fixture(scope="session")
def synth_yaml() -> str:
    return SYNTH_YAML


@pytest.fixture(scope="session")
def examplefed(examplefed_path: Path) -> Federation:
    return load_config(examplefed_path)


@pytest.fixture(scope="session")
def synthfed() -> Federation:
    return load_config_text(SYNTH_YAML, "synthfed.dfm.yaml")


@pytest.fixture
def manager() -> DfmPluginManager:
    """A manager with dfm-compiler's hooks only: nothing loaded from the environment."""
    pm = DfmPluginManager(strict=True)
    pm.register_plugin(dfm.compiler.plugin, distribution="dfm-compiler", version="0.1.0")
    return pm
