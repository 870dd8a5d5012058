"""The cost model of placement: bytes x link cost, or estimated seconds.

A federation that declares no ``compute_cost`` (on any interface entry) and no
``send_cost`` (on any site) is placed by the **bytes model**: the cost of a placement
is the sum, over the edges of the dataflow graph that cross sites, of the estimated
bytes times the link cost between the two sites (``links``; default-cost 1.0).

As soon as it declares one of them, placement uses the **time model** (NVIDIA DFM's):
the cost of a placement is an estimated time in seconds,

* for every operation call: its compute time at the chosen site,
  ``fixed_time + input bytes / compute_throughput`` from that site's ``compute_cost``
  for the operation (no ``compute_cost`` there: 0 s; no throughput: ``fixed_time``);
* for every edge crossing sites ``a -> b``: the transfer time
  ``fixed_time + bytes / bandwidth`` from ``sites.a.send_cost.b`` (same site: 0; no
  bandwidth: ``fixed_time``), multiplied by the link cost between the two sites, which
  in this model is a weight (1.0 unless ``links`` says otherwise; 0 makes a link free);
* a pair of different sites without ``send_cost`` gets a punitive default
  (:data:`UNKNOWN_SEND_FIXED_TIME` seconds + bytes / :data:`UNKNOWN_SEND_BANDWIDTH`),
  and each such pair that the pipeline could use is reported once per compilation
  (``Compilation.diagnostics`` and a warning on the ``dfm.compiler`` logger).

Sizes: the bytes an operation produces are ``fixed_size + output_factor x input
bytes``, its input bytes being the sum of the sizes of the values it reads (so the
estimates flow down the pipeline). A site's ``compute_cost`` without ``fixed_size`` and
``output_factor`` says nothing about size; when no candidate site of a call says
anything, the operation's ``estimated-size`` is used. When candidate sites disagree,
the largest estimate is used, so that a size never depends on where its producer runs:
the cost stays a sum of per-node and per-edge terms, which the exact search needs.
A loop body is estimated once (for one item), as in the bytes model.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

from dfm.kernel.config.models import ComputeCost, Federation

__all__ = [
    "MAX_BYTES",
    "UNKNOWN_SEND_BANDWIDTH",
    "UNKNOWN_SEND_FIXED_TIME",
    "compute_time",
    "output_size",
    "transfer_matrices",
    "unknown_pair_message",
    "uses_time_model",
]

UNKNOWN_SEND_FIXED_TIME = 60.0  # seconds per transfer between sites without send_cost
UNKNOWN_SEND_BANDWIDTH = 1.0e5  # bytes/s between sites without send_cost (100 kB/s)
MAX_BYTES = 2**63 - 1  # size estimates are capped here (they grow through output factors)


def uses_time_model(federation: Federation) -> bool:
    """Does ``federation`` declare any ``compute_cost`` or ``send_cost``?"""
    for site in federation.sites.values():
        if site.send_cost:
            return True
        for entry in site.interface.values():
            if entry.compute_cost is not None:
                return True
        for provider in site.providers.values():
            for entry in provider.interface.values():
                if entry.compute_cost is not None:
                    return True
    return False


def compute_time(cost: ComputeCost | None, input_bytes: int) -> float:
    """Seconds one call takes at a site with ``cost`` (none declared: 0)."""
    if cost is None:
        return 0.0
    seconds = cost.fixed_time
    if cost.compute_throughput:
        seconds += input_bytes / cost.compute_throughput
    return seconds


def output_size(cost: ComputeCost | None, input_bytes: int) -> int | None:
    """Bytes one call produces at a site with ``cost``, or None if ``cost`` says nothing."""
    if cost is None or (cost.fixed_size is None and cost.output_factor is None):
        return None
    size = (cost.fixed_size or 0.0) + (cost.output_factor or 0.0) * input_bytes
    return MAX_BYTES if size >= MAX_BYTES else math.ceil(size)


def transfer_matrices(
    federation: Federation, sites: tuple[str, ...], weights: Mapping[str, Mapping[str, float]]
) -> tuple[dict[str, dict[str, float]], dict[str, dict[str, float]], set[tuple[str, str]]]:
    """Per-byte and per-transfer costs (seconds x link weight) between ``sites``.

    Returns ``(per_byte, per_transfer, unknown)``: ``unknown`` holds the ordered pairs
    of different sites without ``send_cost``, which get the punitive default.
    """
    per_byte: dict[str, dict[str, float]] = {}
    per_transfer: dict[str, dict[str, float]] = {}
    unknown: set[tuple[str, str]] = set()
    for a in sites:
        declared = federation.sites[a].send_cost
        byte_row = per_byte[a] = {}
        fixed_row = per_transfer[a] = {}
        for b in sites:
            if a == b:
                byte_row[b] = fixed_row[b] = 0.0
                continue
            weight = weights[a][b]
            cost = declared.get(b)
            bandwidth: float | None
            if cost is None:
                unknown.add((a, b))
                fixed, bandwidth = UNKNOWN_SEND_FIXED_TIME, UNKNOWN_SEND_BANDWIDTH
            else:
                fixed, bandwidth = cost.fixed_time, cost.bandwidth
            byte_row[b] = weight / bandwidth if bandwidth else 0.0
            fixed_row[b] = weight * fixed
    return per_byte, per_transfer, unknown


def unknown_pair_message(a: str, b: str) -> str:
    """The warning for a transfer from site ``a`` to ``b`` without a declared ``send_cost``: the default it is
    estimated with, and how to declare one.
    """
    return (
        f"no send_cost from site '{a}' to site '{b}': transfers from {a} to {b} are estimated "
        f"with the default of {UNKNOWN_SEND_FIXED_TIME:g} s + bytes / {UNKNOWN_SEND_BANDWIDTH:g} bytes/s "
        f"(declare sites.{a}.send_cost.{b}: {{fixed_time, bandwidth}})"
    )


def relevant_pairs(
    edges: Iterable[tuple[tuple[str, ...], tuple[str, ...]]], unknown: set[tuple[str, str]]
) -> list[tuple[str, str]]:
    """The pairs of ``unknown`` some edge could cross, given its ends' allowed sites."""
    found: set[tuple[str, str]] = set()
    for src, dst in set(edges):
        for a in src:
            for b in dst:
                if (a, b) in unknown:
                    found.add((a, b))
    return sorted(found)
