"""dfm-adapter-files' hook implementations (entry point ``dfm-adapter-files``).

Only records with lazy targets: nothing here imports fsspec or pyarrow.
"""

from __future__ import annotations

from collections.abc import Iterator

from dfm.kernel import AdapterEntry, hookimpl

_ADAPTERS = "dfm_adapter_files.adapters"

ADAPTERS = (
    ("files.List", "List", "Lists files under a path of the site's root."),
    ("files.Read", "Read", "Reads a text or binary file under the site's root."),
    ("files.Write", "Write", "Writes a text or binary file under the site's root."),
    ("files.ReadTable", "ReadTable", "Reads a CSV, JSON-lines or Parquet file as a table (list of rows)."),
    ("files.WriteTable", "WriteTable", "Writes a table as CSV, JSON lines or Parquet under the site's root."),
)


@hookimpl
def dfm_adapters() -> Iterator[AdapterEntry]:
    """The ``files.*`` adapters, one record per entry of ``ADAPTERS``."""
    for name, attribute, summary in ADAPTERS:
        yield AdapterEntry(name, f"{_ADAPTERS}:{attribute}", summary=summary)
