"""``dot``: the placed pipeline as a Graphviz digraph, one cluster per site."""

from __future__ import annotations

from dfm.compiler.emitters._view import PipelineView, view
from dfm.kernel.config.models import Federation
from dfm.kernel.ir.net import PreparedPipeline

__all__ = ["emit", "quote"]

_SHAPES = {"call": "box", "yield": "note", "scatter": "invtrapezium", "item": "ellipse", "branch": "diamond"}


def quote(text: str) -> str:
    """A DOT double-quoted string; ``\\n`` in ``text`` becomes a DOT line break."""
    body = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{body}"'


def emit(prepared: PreparedPipeline, federation: Federation | None = None) -> str:
    """Render ``prepared`` as DOT text."""
    v = view(prepared, federation)
    out = [
        f"digraph {quote(v.name)} {{",
        f"  graph [rankdir=LR, fontname=Helvetica, labelloc=t, label={quote(_title(v))}];",
        "  node [fontname=Helvetica, fontsize=10];",
        "  edge [fontname=Helvetica, fontsize=9];",
    ]
    by_site: dict[str, list[str]] = {}
    for n in v.nodes:
        label = f"{n.id}\n{n.what}"
        by_site.setdefault(n.site, []).append(
            f"    {quote(n.id)} [shape={_SHAPES.get(n.kind, 'box')}, label={quote(label)}];"
        )
    order = list(v.sites) + sorted(s for s in by_site if s not in v.sites)
    for i, site in enumerate(order):
        title = f"{site} (homesite)" if site == v.homesite else site
        out.append(f"  subgraph {quote(f'cluster_{i}_{site}')} {{")
        out.append(f"    label={quote(title)}; style=rounded; color=gray40;")
        out += by_site.get(site, [])
        out.append("  }")
    site_of = {n.id: n.site for n in v.nodes}
    for e in v.edges:
        attrs = []
        crossing = site_of[e.src] != site_of[e.dst]
        if e.kind == "control":
            attrs.append("style=dashed")
        if e.nbytes is not None and e.kind != "control":
            text = f"{e.nbytes} B"
            if crossing and e.cost is not None:
                text += f"\ncost {e.cost:g}"
            attrs.append(f"label={quote(text)}")
        if crossing:
            attrs += ["color=firebrick", "penwidth=2"]
        suffix = f" [{', '.join(attrs)}]" if attrs else ""
        out.append(f"  {quote(e.src)} -> {quote(e.dst)}{suffix};")
    out.append("}")
    return "\n".join(out) + "\n"


def _title(v: PipelineView) -> str:
    return f"{v.name} on {v.federation} (strategy {v.strategy}, estimated cost {v.cost:g})"
