"""Pausing the cyclic garbage collector while a large net is compiled, or parsed and checked at a site.

Compiling or installing a net of 100,000 transitions makes millions of small acyclic objects
(freed by reference counting); each time they pass the collector's thresholds it scans every
live object again, which made both several times slower than the work itself (superlinear).
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector for the block (if it was running)."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
