"""``dot``: the placed pipeline as a Graphviz digraph, one cluster per site, with a legend.

What the picture shows:

* each node is labelled with what the user wrote: the variable its result was
  assigned to (or an explicit name, such as a well-known id) above its operation
  (``total`` / ``stats.Add``); the node id (``n5``, as in ``--format text`` and in
  error messages) is its tooltip;
* each site has its own colour, taken from the position of the site among all
  sites of the federation, so a site keeps its colour in every picture of that
  federation; nodes are filled with their site's colour;
* an edge that crosses sites is red and thick, labelled with its estimated bytes
  and cost; control edges (loop and branch) are dashed;
* a node whose output is *resident* (a site ``policy`` keeps it on its site) has
  a double border and the line ``stays at <site>``;
* the legend explains the marks the picture uses.
"""

from __future__ import annotations

from dfm.compiler.emitters._view import EdgeView, NodeView, PipelineView, view
from dfm.kernel.config.models import Federation
from dfm.kernel.ir.net import PreparedPipeline

__all__ = ["SITE_COLORS", "emit", "quote"]

_SHAPES = {"call": "box", "yield": "note", "scatter": "invtrapezium", "item": "ellipse", "branch": "diamond"}
_SHAPE_MEANING = {
    "call": "operation call",
    "yield": "Yield to the application",
    "scatter": "ForEach",
    "item": "ForEach item",
    "branch": "If",
}

CROSSING = "firebrick"
"""The colour of an edge whose data crosses sites (and only of those)."""

SITE_COLORS = (
    "#4e79a7",  # blue
    "#59a14f",  # green
    "#f28e2b",  # orange
    "#b07aa1",  # purple
    "#76b7b2",  # teal
    "#edc948",  # yellow
    "#9c755f",  # brown
    "#ff9da7",  # pink
    "#bab0ac",  # grey
)
"""Site colours, by the site's position among the federation's sites (sorted); no red (crossings)."""


def quote(text: str) -> str:
    """A DOT double-quoted string; ``\\n`` in ``text`` becomes a DOT line break."""
    body = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{body}"'


def site_color(v: PipelineView, site: str) -> str:
    """The colour of ``site`` in the picture ``v`` (its palette position, cycling through ``SITE_COLORS``)."""
    return SITE_COLORS[v.color_index(site) % len(SITE_COLORS)]


def _node_label(n: NodeView) -> str:
    lines = [n.name, n.what] if n.name else [n.what]
    if n.resident:
        lines.append(f"stays at {n.site}")
    return "\n".join(lines)


def _tooltip(n: NodeView) -> str:
    described = n.label if n.label.startswith(n.id) else f"{n.id}: {n.label}"
    return f"{described} at {n.site}"


def emit(prepared: PreparedPipeline, federation: Federation | None = None) -> str:
    """Render ``prepared`` as DOT text (bytes, costs and residency shown when ``federation`` is given)."""
    v = view(prepared, federation)
    out = [
        f"digraph {quote(v.name)} {{",
        f"  graph [rankdir=LR, fontname=Helvetica, labelloc=t, label={quote(_title(v))}];",
        "  node [fontname=Helvetica, fontsize=10, style=filled];",
        "  edge [fontname=Helvetica, fontsize=9, color=gray30];",
    ]
    by_site: dict[str, list[str]] = {}
    for n in v.nodes:
        attrs = [
            f"shape={_SHAPES.get(n.kind, 'box')}",
            f"label={quote(_node_label(n))}",
            f"tooltip={quote(_tooltip(n))}",
            f"fillcolor={quote(site_color(v, n.site) + '40')}",
            f"color={quote(site_color(v, n.site))}",
        ]
        if n.resident:
            attrs.append("peripheries=2")
        by_site.setdefault(n.site, []).append(f"    {quote(n.id)} [{', '.join(attrs)}];")
    order = list(v.sites) + sorted(s for s in by_site if s not in v.sites)
    for i, site in enumerate(order):
        title = f"{site} (homesite)" if site == v.homesite else site
        out.append(f"  subgraph {quote(f'cluster_{i}_{site}')} {{")
        out.append(
            f"    label={quote(title)}; style=rounded; color={quote(site_color(v, site))}; "
            f"fontcolor={quote(site_color(v, site))}; penwidth=1.5;"
        )
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
            attrs += [f"color={CROSSING}", "penwidth=2"]
        suffix = f" [{', '.join(attrs)}]" if attrs else ""
        out.append(f"  {quote(e.src)} -> {quote(e.dst)}{suffix};")
    out += _legend(v, site_of)
    out.append("}")
    return "\n".join(out) + "\n"


def _legend(v: PipelineView, site_of: dict[str, str]) -> list[str]:
    """A cluster explaining the marks this picture uses (and only those)."""

    def crosses(e: EdgeView) -> bool:
        return site_of[e.src] != site_of[e.dst]

    samples: list[tuple[str, str]] = []  # (edge attributes, meaning)
    if any(crosses(e) for e in v.edges):
        samples.append((f"color={CROSSING}, penwidth=2", "data crossing sites (bytes, cost)"))
    if any(not crosses(e) and e.kind != "control" for e in v.edges):
        samples.append(("", "data staying on its site"))
    if any(e.kind == "control" for e in v.edges):
        samples.append(("style=dashed", "control (loop, branch)"))
    out = [
        '  subgraph "cluster_legend" {',
        '    label="legend"; style="rounded,dashed"; color=gray60; fontcolor=gray30; fontsize=9;',
        '    node [shape=plaintext, style="", fontsize=9, margin=0, height=0];',
    ]
    for i, (edge_attrs, meaning) in enumerate(samples):
        out.append(f'    "legend_e{i}" [label="", shape=point, width=0.06, color=gray30];')
        out.append(f'    "legend_m{i}" [label={quote(meaning)}];')
        out.append(f'    "legend_e{i}" -> "legend_m{i}"' + (f" [{edge_attrs}];" if edge_attrs else ";"))
    kinds = list(dict.fromkeys(n.kind for n in v.nodes))
    for kind in kinds:
        out.append(
            f'    "legend_k_{kind}" [shape={_SHAPES.get(kind, "box")}, style="", '
            f'margin="0.08,0.03", label={quote(_SHAPE_MEANING.get(kind, kind))}];'
        )
    if any(n.resident for n in v.nodes):
        out.append(
            '    "legend_resident" [shape=box, peripheries=2, style="", margin="0.08,0.03", '
            'label="resident output: never leaves its site"];'
        )
    if any(n.name for n in v.nodes):
        out.append('    "legend_names" [label="name = what the pipeline calls a node; hover for its id"];')
    out.append('    "legend_sites" [label="fill and frame: the site it runs on"];')
    out.append("  }")
    return out


def _title(v: PipelineView) -> str:
    return f"{v.name} on {v.federation} (strategy {v.strategy}, estimated cost {v.cost:g})"
