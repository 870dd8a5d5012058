"""The pipeline API users write against.

from dfm.api import Pipeline, Yield, PlaceParam, ForEach, If, Else, load_federation
"""

from dfm.api.federation import FederationHandle, Namespace, OperationCall, load_federation
from dfm.api.pipeline import Condition, Else, ForEach, If, Node, Pipeline, PlaceParam, Yield
from dfm.kernel.ir.pipeline import MAX_BLOCK_DEPTH, MAX_VALUE_DEPTH

__all__ = [
    "MAX_BLOCK_DEPTH",
    "MAX_VALUE_DEPTH",
    "Condition",
    "Else",
    "FederationHandle",
    "ForEach",
    "If",
    "Namespace",
    "Node",
    "OperationCall",
    "Pipeline",
    "PlaceParam",
    "Yield",
    "load_federation",
]
