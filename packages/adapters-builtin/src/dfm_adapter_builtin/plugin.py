"""dfm-adapter-builtin's hook implementations (entry point ``dfm-adapter-builtin``).

Only records with lazy targets: nothing here imports the adapter classes.
"""

from __future__ import annotations

from collections.abc import Iterator

from dfm.kernel import AdapterEntry, hookimpl

_ADAPTERS = "dfm_adapter_builtin.adapters"

ADAPTERS = (
    ("builtin.Identity", "Identity", "Returns its input unchanged."),
    ("builtin.Const", "Const", "Returns the value the site binds (const or from-site)."),
    ("builtin.Echo", "Echo", "Returns its input with the site and provider that saw it."),
    ("builtin.MapFields", "MapFields", "Keeps and renames the fields of each row of a table."),
    ("builtin.Flatten", "Flatten", "Flattens a list of lists by one level."),
    ("builtin.Count", "Count", "Partial count of rows or values, optionally grouped."),
    ("builtin.Sum", "Sum", "Partial sum of a field, optionally grouped."),
    ("builtin.Mean", "Mean", "Partial mean (sum and count) of a field, optionally grouped."),
    ("builtin.Min", "Min", "Partial minimum of a field, optionally grouped."),
    ("builtin.Max", "Max", "Partial maximum of a field, optionally grouped."),
    ("builtin.Histogram", "Histogram", "Partial histogram of a field over fixed bin edges."),
    ("builtin.Merge", "Merge", "Merges two partial aggregates of one kind."),
    ("builtin.Finalize", "Finalize", "Turns a partial aggregate into its final value."),
    ("builtin.Combine", "Combine", "Merges a list of partial aggregates into the final value."),
)


@hookimpl
def dfm_adapters() -> Iterator[AdapterEntry]:
    """The ``builtin.*`` adapters, one record per entry of ``ADAPTERS``."""
    for name, attribute, summary in ADAPTERS:
        yield AdapterEntry(name, f"{_ADAPTERS}:{attribute}", summary=summary)
