"""A live progress display for a job, in Jupyter only; a no-op everywhere else.

Shown while :meth:`Job.wait` (and so ``to_pandas()``/``to_arrow()``) blocks in a
notebook: status, sites started and done, results per place, elapsed time. It is
updated from the waiting thread (a few times a second), never from the session's
event loop. Outside IPython with a display (scripts, the terminal IPython, tests),
:func:`display_for` returns None and nothing is imported.
"""

from __future__ import annotations

import html
import importlib
import sys
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dfm.runner.session import Job

INTERVAL = 0.25  # seconds between updates


def in_notebook() -> bool:
    """True under an IPython kernel that can show rich output (Jupyter, VS Code...)."""
    ipython = sys.modules.get("IPython")
    if ipython is None:  # never imported: certainly not a notebook
        return False
    try:
        shell = ipython.get_ipython()
    except Exception:
        return False
    return shell is not None and getattr(shell, "kernel", None) is not None


def render(job: Job) -> str:
    """The job's state as a small HTML block."""
    status = job.status.value
    sites = job.prepared.nets
    started, waiting = job._started_sites, job._waiting_sites
    end = job.ended_at if job.ended_at is not None else time.monotonic()
    counts = ", ".join(f"{html.escape(place)}: {n}" for place, n in sorted(job._counts.items())) or "none yet"
    done = len(sites) - len(waiting)
    colour = {"FINISHED": "#59a14f", "FAILED": "#e15759", "CANCELLED": "#bab0ac"}.get(status, "#4e79a7")
    error = f"<br><small>{html.escape(job.error)}</small>" if job.error else ""
    return (
        f'<div style="font-family: monospace; font-size: 90%">'
        f'job <b>{html.escape(job.id)}</b> <span style="color: {colour}"><b>{status}</b></span> '
        f"&middot; {end - job.started_at:.1f} s &middot; sites started {len(started)}/{len(sites)}, "
        f'done {done}/{len(sites)} <progress value="{done}" max="{max(len(sites), 1)}"></progress>'
        f"<br>results: {counts}{error}</div>"
    )


class Display:
    """A display handle showing one job, updated in place."""

    def __init__(self, job: Job, handle: Any, html_type: Any):
        self.job = job
        self._handle = handle
        self._html = html_type
        self._last = 0.0

    def update(self, force: bool = False) -> None:
        """Redraw the display, at most once per INTERVAL unless force; display errors are ignored."""
        now = time.monotonic()
        if force or now - self._last >= INTERVAL:
            self._last = now
            try:
                self._handle.update(self._html(render(self.job)))
            except Exception:  # a display must never break waiting for the job
                pass


def display_for(job: Job) -> Display | None:
    """A new progress display for ``job`` in a notebook, else None."""
    if not in_notebook():
        return None
    try:
        ipython_display = importlib.import_module("IPython.display")  # optional: only in notebooks
        html_type = ipython_display.HTML
        handle = ipython_display.display(html_type(render(job)), display_id=True)
    except Exception:
        return None
    return Display(job, handle, html_type) if handle is not None else None
