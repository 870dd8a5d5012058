"""``text``: the placement as a table, then the transfers between sites and the cost."""

from __future__ import annotations

from dfm.compiler.emitters._view import view
from dfm.kernel.config.models import Federation
from dfm.kernel.ir.net import PreparedPipeline

__all__ = ["emit"]


def _table(rows: list[tuple[str, ...]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows]


def _num(value: float) -> str:
    return f"{value:g}"


def emit(prepared: PreparedPipeline, federation: Federation | None = None) -> str:
    """Render ``prepared`` as plain text (candidates and bytes shown when ``federation`` is given)."""
    v = view(prepared, federation)
    lines = [
        f"pipeline '{v.name}' on federation {v.federation} "
        f"(homesite {v.homesite}, strategy {v.strategy}, digest {prepared.digest[:12] or '-'})",
        "",
    ]
    named = any(n.name for n in v.nodes)  # a name column only when the pipeline names nodes
    rows: list[tuple[str, ...]] = [
        ("node", *(("name",) if named else ()), "kind", "operation", "site", "candidates")
    ]
    for n in v.nodes:
        cands = ", ".join(n.candidates) if n.candidates is not None else "-"
        if n.resident:
            cands += " (resident)"
        name = ((n.name or "-"),) if named else ()
        rows.append((n.id, *name, n.kind, n.what, n.site, cands))
    lines += _table(rows)
    crossing = v.crossing()
    site = {n.id: n.site for n in v.nodes}
    lines.append("")
    if crossing:
        lines.append("transfers between sites:")
        rows = [("from", "to", "sites", "bytes", "link cost", "cost")]
        for e in crossing:
            rows.append(
                (
                    e.src,
                    e.dst,
                    f"{site[e.src]} -> {site[e.dst]}",
                    str(e.nbytes) if e.nbytes is not None else "-",
                    _num(e.link_cost) if e.link_cost is not None else "-",
                    _num(e.cost) if e.cost is not None else "-",
                )
            )
        lines += ["  " + line for line in _table(rows)]
    else:
        lines.append("transfers between sites: none")
    lines.append(f"estimated cost: {_num(v.cost)}")
    lines.append(f"sites with a net: {', '.join(v.sites)}")
    return "\n".join(lines) + "\n"
