"""Placement: choosing a site for every node of the dataflow graph.

Strategies are plain functions ``strategy(problem: PlacementProblem) -> dict[node, site]``,
registered by name through the ``dfm_placement_strategies`` hook. Built in:
:func:`optimal`, :func:`greedy` and :func:`auto`.
"""

from dfm.compiler.placement.auto import AUTO_LIMIT, auto
from dfm.compiler.placement.greedy import greedy
from dfm.compiler.placement.optimal import optimal
from dfm.compiler.placement.problem import Edge, PlacementProblem, link_cost_matrix

__all__ = ["AUTO_LIMIT", "Edge", "PlacementProblem", "auto", "greedy", "link_cost_matrix", "optimal"]
