"""compute_cost (interface entries) and send_cost (sites): NVIDIA DFM's placement estimates."""

from __future__ import annotations

from dfm.kernel.config import load_config_text
from dfm.kernel.config.converter import converter
from dfm.kernel.config.models import ComputeCost, Federation, SendCost

CONFIG = """
dfm: 1.0.0
info: {api-version: 1.0.0, code-package: costs}
operations:
  data.Load: {}
  data.Count: {}
sites:
  store:
    interface:
      "#/operations/data.Load":
        adapter: costs.adapters.Load
        compute_cost: {fixed_time: 1, compute_throughput: 1.5e+6, fixed_size: 100000000, output_factor: 0}
    providers:
      batch:
        interface:
          "#/operations/data.Count":
            adapter: costs.adapters.Count
            compute_cost: {fixed_time: 0.25}
    send_cost:
      gpu: {fixed_time: 0.5, bandwidth: 1.0e+8}
      home: {fixed_time: 2}
  gpu:
    interface:
      "#/operations/data.Count": {adapter: costs.adapters.Count}
  home: {}
"""


def test_costs_load_with_their_defaults() -> None:
    fed = load_config_text(CONFIG, "costs.dfm.yaml")
    load = fed.interface_entry("store", "data.Load")
    assert load is not None and load.compute_cost == ComputeCost(1.0, 1.5e6, 1e8, 0.0)
    count = fed.interface_entry("store", "data.Count", "batch")
    assert count is not None and count.compute_cost == ComputeCost(fixed_time=0.25)
    assert count.compute_cost.compute_throughput is None and count.compute_cost.fixed_size is None
    gpu = fed.interface_entry("gpu", "data.Count")
    assert gpu is not None and gpu.compute_cost is None
    assert fed.sites["store"].send_cost == {
        "gpu": SendCost(fixed_time=0.5, bandwidth=1e8),
        "home": SendCost(fixed_time=2.0),
    }
    assert fed.sites["gpu"].send_cost == {}


def test_costs_round_trip_through_the_converter() -> None:
    fed = load_config_text(CONFIG, "costs.dfm.yaml")
    data = converter.unstructure(fed)
    assert data["sites"]["store"]["send_cost"]["home"] == {"fixed_time": 2.0}
    assert "send_cost" not in data["sites"]["gpu"]
    assert converter.structure(data, Federation) == fed
