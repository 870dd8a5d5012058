"""How a :class:`~dfm.kernel.ir.net.PreparedPipeline` shows itself in Jupyter.

``_repr_svg_`` renders the placed pipeline with the ``svg`` emitter (dfm-compiler
registers it when Graphviz's ``dot`` is on PATH); without it, ``_repr_html_``
shows the ``text`` emitter's table and says what to install for the picture.
The kernel imports no emitter: both are looked up by name in the ``emitters``
registry, so the pictures are whatever the installed plugins draw.

A picture shows more (candidate sites, bytes, residency) when the federation is
known: whoever compiles a pipeline (``dfm.compiler.compile_pipeline``) records it
with :func:`remember_federation`, for as long as the prepared pipeline lives.
"""

from __future__ import annotations

import html
import logging
import weakref
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dfm.kernel.config.models import Federation
    from dfm.kernel.ir.net import PreparedPipeline

log = logging.getLogger(__name__)

_federations: dict[int, Federation] = {}
_svg_cache: dict[int, str | None] = {}


def _forget(key: int) -> None:
    _federations.pop(key, None)
    _svg_cache.pop(key, None)


def remember_federation(prepared: PreparedPipeline, federation: Federation) -> None:
    """Show ``prepared`` with ``federation``'s details (kept until ``prepared`` is garbage)."""
    key = id(prepared)
    if key not in _federations:
        weakref.finalize(prepared, _forget, key)
    _federations[key] = federation
    _svg_cache.pop(key, None)


def federation_of(prepared: PreparedPipeline) -> Federation | None:
    """The federation recorded for ``prepared``, or None."""
    return _federations.get(id(prepared))


def _emit(name: str, prepared: PreparedPipeline) -> Any:
    """The output of the emitter ``name`` for ``prepared``, or None if there is none (never raises)."""
    try:
        from dfm.kernel.plugins import get_plugin_manager

        manager = get_plugin_manager()
        if name not in manager.registry("emitters"):
            return None
        return manager.get("emitters", name).load()(prepared, federation_of(prepared))
    except Exception:  # a display hook must not raise into the notebook
        log.warning(
            "the %s emitter failed to render pipeline '%s'", name, prepared.pipeline.name, exc_info=True
        )
        return None


def svg(prepared: PreparedPipeline) -> str | None:
    """The placed pipeline as SVG text, or None when no ``svg`` emitter is available."""
    key = id(prepared)
    if key not in _svg_cache:
        out = _emit("svg", prepared)
        text = out.decode() if isinstance(out, bytes) else out if isinstance(out, str) else None
        if key not in _federations:  # nothing to clean the cache up when the object dies: no caching
            return text
        _svg_cache[key] = text
    return _svg_cache[key]


def html_fallback(prepared: PreparedPipeline) -> str | None:
    """HTML for Jupyter when there is no SVG picture: the text table and what to install; else None."""
    if svg(prepared) is not None:
        return None  # the SVG is shown; HTML would take precedence over it in Jupyter
    table = _emit("text", prepared)
    if isinstance(table, str):
        hint = (
            "Install Graphviz (the <code>dot</code> program: <code>apt-get install graphviz</code>, "
            "<code>brew install graphviz</code>...) to see this pipeline as a picture."
        )
        return f"<pre>{html.escape(table)}</pre><p><small>{hint}</small></p>"
    sites = ", ".join(prepared.sites) or "-"
    return (
        f"<p>Prepared pipeline <b>{html.escape(prepared.pipeline.name)}</b> on federation "
        f"<b>{html.escape(prepared.federation)}</b>: sites {html.escape(sites)}, "
        f"digest <code>{html.escape(prepared.digest[:12])}</code>.</p>"
        "<p><small>Install dfm-compiler to see where each node runs.</small></p>"
    )
