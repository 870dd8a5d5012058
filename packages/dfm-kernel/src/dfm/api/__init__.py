"""The pipeline API users write against.

from dfm.api import Pipeline, Yield, PlaceParam, ForEach, If, Else, load_federation

NVIDIA DFM's names are here too: ``BestOf``, ``Advise``, ``well_known_id``,
``PickledObject``, and the condition classes ``And``, ``Or``, ``Not``, ``Equal``,
``NotEqual``, ``GreaterThan``, ``GreaterThanOrEqual``, ``LessThan``, ``LessThanOrEqual``.
"""

from dfm.api.federation import FederationHandle, Namespace, OperationCall, load_federation
from dfm.api.pipeline import (
    Advise,
    And,
    BestOf,
    Condition,
    Else,
    Equal,
    ForEach,
    GreaterThan,
    GreaterThanOrEqual,
    If,
    LessThan,
    LessThanOrEqual,
    Node,
    NodeId,
    Not,
    NotEqual,
    Or,
    PickledObject,
    Pipeline,
    PlaceParam,
    Selection,
    Yield,
    well_known_id,
)
from dfm.kernel.ir.pipeline import MAX_BLOCK_DEPTH, MAX_VALUE_DEPTH

__all__ = [
    "MAX_BLOCK_DEPTH",
    "MAX_VALUE_DEPTH",
    "Advise",
    "And",
    "BestOf",
    "Condition",
    "Else",
    "Equal",
    "FederationHandle",
    "ForEach",
    "GreaterThan",
    "GreaterThanOrEqual",
    "If",
    "LessThan",
    "LessThanOrEqual",
    "Namespace",
    "Node",
    "NodeId",
    "Not",
    "NotEqual",
    "OperationCall",
    "Or",
    "PickledObject",
    "Pipeline",
    "PlaceParam",
    "Selection",
    "Yield",
    "load_federation",
    "well_known_id",
]
