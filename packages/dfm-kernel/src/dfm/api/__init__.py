"""The pipeline API users write against.

from dfm.api import Pipeline, Yield, PlaceParam, ForEach, If, Else, load_federation

NVIDIA DFM's names are here too: ``BestOf``, ``Advise``, ``well_known_id``,
``PickledObject``, ``TryFromCache`` (a cached block), discovery's ``field_advisor`` and
advice types (``Okay``, ``Advised*``), and the condition classes ``And``, ``Or``,
``Not``, ``Equal``, ``NotEqual``, ``GreaterThan``, ``GreaterThanOrEqual``, ``LessThan``,
``LessThanOrEqual``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dfm.api.federation import FederationHandle, Namespace, OperationCall, load_federation
from dfm.api.pipeline import (
    Advise,
    And,
    BestOf,
    CachedValue,
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
    TryFromCache,
    Yield,
    well_known_id,
)
from dfm.kernel.ir.pipeline import MAX_BLOCK_DEPTH, MAX_VALUE_DEPTH

if TYPE_CHECKING:
    from dfm.kernel.advice import (
        AdvisedDateRange,
        AdvisedDict,
        AdvisedError,
        AdvisedLiteral,
        AdvisedOneOf,
        AdvisedSubsetOf,
        Okay,
        field_advisor,
    )

# Discovery's advice classes are imported on first use: a script that records and
# submits a pipeline never needs them.
_ADVICE = (
    "AdvisedDateRange",
    "AdvisedDict",
    "AdvisedError",
    "AdvisedLiteral",
    "AdvisedOneOf",
    "AdvisedSubsetOf",
    "Okay",
    "field_advisor",
)

__all__ = [
    "MAX_BLOCK_DEPTH",
    "MAX_VALUE_DEPTH",
    "Advise",
    "AdvisedDateRange",
    "AdvisedDict",
    "AdvisedError",
    "AdvisedLiteral",
    "AdvisedOneOf",
    "AdvisedSubsetOf",
    "And",
    "BestOf",
    "CachedValue",
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
    "Okay",
    "OperationCall",
    "Or",
    "PickledObject",
    "Pipeline",
    "PlaceParam",
    "Selection",
    "TryFromCache",
    "Yield",
    "field_advisor",
    "load_federation",
    "well_known_id",
]


def __getattr__(name: str) -> Any:
    if name not in _ADVICE:
        raise AttributeError(f"module 'dfm.api' has no attribute '{name}'")
    from dfm.kernel import advice

    value = getattr(advice, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
