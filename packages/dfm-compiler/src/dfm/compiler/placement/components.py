"""The placement problem cut into independent components, and solved one component at a time.

Every built-in strategy runs the same preparation:

1. **groups**: nodes that must share a site (``colocate``) are merged; a group's
   domain is the intersection of its members' candidates.
2. **residency propagation** (arc consistency on "producer at S -> consumer at S"):
   a site is removed from a producer's domain when the consumer cannot run there,
   and a producer that can only run at S pins its consumers to S. An empty domain
   is a :class:`CompileError` that names the node, the operation, every site
   considered and why each was ruled out.
3. **fixing**: groups left with one site are placed; their edges become per-site
   (unary) costs of their neighbours, as do the compute costs of the time model
   (:mod:`dfm.compiler.costs`), which splits the rest into independent
   **components** (cost is additive over components and so is the tie-break).

An edge between two groups at sites ``s`` and ``t`` costs ``bytes * matrix[s][t] +
count * transfer[s][t]`` (``count``: how many graph edges it aggregates; ``transfer`` is the
per-transfer cost of the time model, absent in the bytes model).

Then each component is solved by the chosen method (:mod:`~dfm.compiler.placement.greedy`,
:mod:`~dfm.compiler.placement.exhaustive` or :mod:`~dfm.compiler.placement.optimal`).
Site indices follow ``problem.sites``, so "smaller index" is the tie-break order.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence

from dfm.compiler.placement.problem import PlacementProblem
from dfm.compiler.placement.reference import reference_rule
from dfm.kernel.errors import CompileError

__all__ = ["Assignment", "Component", "Method", "Prepared", "no_feasible_placement", "prepare", "solve"]

Assignment = list[int]  # site index per component group


class Component:
    """An independent part of the problem: free groups connected by edges."""

    __slots__ = (
        "adj_in",
        "adj_out",
        "domains",
        "edges",
        "groups",
        "labels",
        "matrix",
        "res_in",
        "res_out",
        "residency",
        "transfer",
        "unary",
    )

    def __init__(
        self,
        groups: list[str],
        domains: list[list[int]],
        unary: list[dict[int, float]],
        edges: list[tuple[int, int, float]],
        residency: list[tuple[int, int, int]],
        matrix: list[list[float]],
        labels: list[str] | None = None,
        transfer: list[list[float]] | None = None,
        counts: list[int] | None = None,
    ) -> None:
        self.groups = groups  # representative node ids, canonical order
        self.labels = labels or list(groups)  # for messages
        self.domains = domains  # allowed site indices per group, ascending
        self.unary = unary  # site index -> cost of the group's compute and edges to fixed groups
        self.residency = residency  # (producer group, consumer group, site)
        self.matrix = matrix  # cost per byte by site index
        self.transfer = transfer  # cost per transfer by site index (time model), or None
        # (src group, dst group, bytes, transfers), aggregated
        self.edges: list[tuple[int, int, float, int]] = [
            (a, b, w, counts[i] if counts is not None else 1) for i, (a, b, w) in enumerate(edges)
        ]
        n = len(groups)
        self.adj_out: list[list[tuple[int, float, int]]] = [[] for _ in range(n)]
        self.adj_in: list[list[tuple[int, float, int]]] = [[] for _ in range(n)]
        for a, b, w, c in self.edges:
            self.adj_out[a].append((b, w, c))
            self.adj_in[b].append((a, w, c))
        self.res_out: list[list[tuple[int, int]]] = [[] for _ in range(n)]
        self.res_in: list[list[tuple[int, int]]] = [[] for _ in range(n)]
        for a, b, s in residency:
            self.res_out[a].append((b, s))
            self.res_in[b].append((a, s))

    def __len__(self) -> int:
        return len(self.groups)

    def space(self, cap: int | None = None) -> int:
        """Number of assignments (product of domain sizes); stops growing past ``cap``."""
        total = 1
        for dom in self.domains:
            total *= len(dom)
            if cap is not None and total > cap:
                return total
        return total

    def edge_cost(self, w: float, c: int, s: int, t: int) -> float:
        """Cost of an aggregated edge of ``w`` bytes and ``c`` transfers from ``s`` to ``t``."""
        if self.transfer is None:
            return w * self.matrix[s][t]
        return w * self.matrix[s][t] + c * self.transfer[s][t]

    def cost(self, x: Sequence[int]) -> float:
        """Exact cost of a full assignment, summed in a fixed order."""
        total = 0.0
        for k, s in enumerate(x):
            total += self.unary[k].get(s, 0.0)
        m, f = self.matrix, self.transfer
        if f is None:
            for a, b, w, _c in self.edges:
                total += w * m[x[a]][x[b]]
        else:
            for a, b, w, c in self.edges:
                total += w * m[x[a]][x[b]] + c * f[x[a]][x[b]]
        return total

    def candidate_costs(self, k: int, candidates: Sequence[int], x: Sequence[int]) -> list[float]:
        """The cost of group ``k``'s edges (and its unary cost) with ``k`` at each candidate site, unplaced
        neighbours (-1) ignored; neighbours are aggregated by site first."""
        m, f = self.matrix, self.transfer
        out_w: dict[int, float] = {}
        in_w: dict[int, float] = {}
        out_c: dict[int, int] = {}
        in_c: dict[int, int] = {}
        if f is None:  # the bytes model: the hot path of large compilations
            for b, w, _c in self.adj_out[k]:
                t = x[b]
                if t >= 0:
                    out_w[t] = out_w.get(t, 0.0) + w
            for a, w, _c in self.adj_in[k]:
                t = x[a]
                if t >= 0:
                    in_w[t] = in_w.get(t, 0.0) + w
        else:
            for b, w, c in self.adj_out[k]:
                t = x[b]
                if t >= 0:
                    out_w[t] = out_w.get(t, 0.0) + w
                    out_c[t] = out_c.get(t, 0) + c
            for a, w, c in self.adj_in[k]:
                t = x[a]
                if t >= 0:
                    in_w[t] = in_w.get(t, 0.0) + w
                    in_c[t] = in_c.get(t, 0) + c
        unary = self.unary[k]
        costs = []
        for s in candidates:
            row = m[s]
            cost = unary.get(s, 0.0)
            for t, w in out_w.items():
                cost += w * row[t]
            for t, w in in_w.items():
                cost += w * m[t][s]
            if f is not None:
                frow = f[s]
                for t, c in out_c.items():
                    cost += c * frow[t]
                for t, c in in_c.items():
                    cost += c * f[t][s]
            costs.append(cost)
        return costs

    def neighbours(self, k: int) -> set[int]:
        """Groups whose best site may change when ``k`` moves."""
        out = {b for b, _w, _c in self.adj_out[k]} | {a for a, _w, _c in self.adj_in[k]}
        out.update(b for b, _ in self.res_out[k])
        out.update(a for a, _ in self.res_in[k])
        return out

    def move_allowed(self, k: int, s: int, x: Sequence[int]) -> bool:
        """Would placing ``k`` at ``s`` keep residency with the placed groups?"""
        for b, rs in self.res_out[k]:
            if rs == s and x[b] >= 0 and x[b] != s:
                return False
        return all(x[a] != rs or s == rs for a, rs in self.res_in[k])


class Prepared:
    """The result of preparation: fixed groups plus independent components."""

    def __init__(self, problem: PlacementProblem) -> None:
        self.problem = problem
        self.sites = problem.sites
        self.index = {s: i for i, s in enumerate(self.sites)}
        self.matrix = [[problem.link_cost(a, b) for b in self.sites] for a in self.sites]
        self.transfer: list[list[float]] | None = None
        if problem.transfer_costs is not None:
            self.transfer = [[problem.transfer_cost(a, b) for b in self.sites] for a in self.sites]
        self._group()
        self._propagate()
        self._split()

    # -- groups -------------------------------------------------------------------

    def _group(self) -> None:
        problem = self.problem
        order = {n: i for i, n in enumerate(problem.nodes)}
        parent = {n: n for n in problem.nodes}

        def find(n: str) -> str:
            while parent[n] != n:
                parent[n] = parent[parent[n]]
                n = parent[n]
            return n

        for node, other in problem.colocate.items():
            if node not in order or other not in order:
                raise CompileError(
                    f"placement problem is inconsistent: {problem.label(node)} "
                    f"is co-located with unknown node '{other}'"
                )
            a, b = find(node), find(other)
            if a != b:
                if order[a] < order[b]:
                    parent[b] = a
                else:
                    parent[a] = b
        self.group_of = {n: find(n) for n in problem.nodes}
        self.members: dict[str, list[str]] = {}
        for n in problem.nodes:
            self.members.setdefault(self.group_of[n], []).append(n)
        self.reps = list(self.members)  # canonical order of first members
        self.domain: dict[str, list[int]] = {}
        for rep, members in self.members.items():
            allowed: set[int] | None = None
            for n in members:
                cands = {self.index[s] for s in problem.candidates[n] if s in self.index}
                allowed = cands if allowed is None else allowed & cands
            if not allowed:
                detail = "; ".join(
                    f"{problem.label(n)}: {', '.join(problem.candidates[n]) or 'none'}" for n in members
                )
                if len(members) == 1:
                    raise CompileError(f"cannot place {problem.label(rep)}: it has no candidate site")
                raise CompileError(
                    f"cannot place {problem.label(rep)}: it must run on the same site as "
                    + ", ".join(problem.label(n) for n in members[1:])
                    + f", but they have no candidate site in common ({detail})"
                )
            self.domain[rep] = sorted(allowed)

    # -- residency ----------------------------------------------------------------

    def _propagate(self) -> None:
        problem = self.problem
        sites = self.sites
        initial = {g: list(d) for g, d in self.domain.items()}
        dom = {g: set(d) for g, d in self.domain.items()}
        constraints: list[tuple[str, str, int, str, str]] = []
        seen: set[tuple[str, str, int]] = set()
        for u, v, _ in problem.edges:
            gu, gv = self.group_of[u], self.group_of[v]
            if gu == gv:
                continue
            for site in problem.resident.get(u, ()):
                s = self.index.get(site)
                if s is None or (gu, gv, s) in seen:
                    continue
                seen.add((gu, gv, s))
                constraints.append((gu, gv, s, u, v))
        involving: dict[str, list[int]] = {}
        for i, (gu, gv, *_rest) in enumerate(constraints):
            involving.setdefault(gu, []).append(i)
            involving.setdefault(gv, []).append(i)
        why: dict[str, dict[int, str]] = {}

        def op(node: str) -> str:
            """The operation behind a node's residency, when its label does not say it."""
            name = problem.operations.get(node)
            return f" (output of '{name}')" if name and f"({name})" not in problem.label(node) else ""

        def remove(g: str, s: int, reason: str) -> None:
            dom[g].discard(s)
            why.setdefault(g, {}).setdefault(s, reason)
            if not dom[g]:
                considered = ", ".join(sites[i] for i in initial[g])
                lines = [f"  - {sites[i]}: {why[g].get(i, 'ruled out')}" for i in initial[g]]
                raise CompileError(
                    f"cannot place {problem.label(g)}: no site satisfies the data residency policies "
                    f"(sites considered: {considered})\n" + "\n".join(lines)
                )
            queue.extend(i for i in involving.get(g, ()) if i not in queued)
            queued.update(involving.get(g, ()))

        queue: deque[int] = deque(range(len(constraints)))
        queued: set[int] = set(queue)
        while queue:
            i = queue.popleft()
            queued.discard(i)
            gu, gv, s, u, v = constraints[i]
            site = sites[s]
            if s in dom[gu] and s not in dom[gv]:
                remove(
                    gu,
                    s,
                    f"the output of {problem.label(u)}{op(u)} must stay at {site} (residency policy of "
                    f"site {site}), but its consumer {problem.label(v)} cannot run at {site}",
                )
            if dom[gu] == {s}:
                for t in sorted(dom[gv] - {s}):
                    remove(
                        gv,
                        t,
                        f"{problem.label(v)} reads the output of {problem.label(u)}{op(u)}, which can only "
                        f"run at {site} and must stay there (residency policy of site {site})",
                    )
        self.domain = {g: sorted(d) for g, d in dom.items()}
        # constraints with a fixed end are now satisfied by the domains themselves
        self.constraints = [
            (gu, gv, s)
            for gu, gv, s, _u, _v in constraints
            if s in dom[gu] and len(dom[gu]) > 1 and len(dom[gv]) > 1
        ]

    # -- fixing and components ----------------------------------------------------------

    def _split(self) -> None:
        problem = self.problem
        m = self.matrix
        f = self.transfer
        self.fixed = {g: d[0] for g, d in self.domain.items() if len(d) == 1}
        free = [g for g in self.reps if g not in self.fixed]
        unary: dict[str, dict[int, float]] = {g: {} for g in free}
        for node, by_site in problem.compute_costs.items():
            row = unary.get(self.group_of[node])
            if row is None:
                continue  # a fixed group: its compute cost is the same whatever the rest does
            for s in self.domain[self.group_of[node]]:
                row[s] = row.get(s, 0.0) + by_site.get(self.sites[s], 0.0)
        pair: dict[tuple[str, str], float] = {}
        count: dict[tuple[str, str], int] = {}
        for u, v, nbytes in problem.edges:
            gu, gv = self.group_of[u], self.group_of[v]
            if gu == gv or (not nbytes and f is None):
                continue
            fu, fv = self.fixed.get(gu), self.fixed.get(gv)
            if fu is not None and fv is not None:
                continue
            if fu is not None:
                row = unary[gv]
                for t in self.domain[gv]:
                    row[t] = row.get(t, 0.0) + nbytes * m[fu][t] + (f[fu][t] if f is not None else 0.0)
            elif fv is not None:
                row = unary[gu]
                for s in self.domain[gu]:
                    row[s] = row.get(s, 0.0) + nbytes * m[s][fv] + (f[s][fv] if f is not None else 0.0)
            else:
                pair[(gu, gv)] = pair.get((gu, gv), 0.0) + nbytes
                count[(gu, gv)] = count.get((gu, gv), 0) + 1
        # connected components of the free groups (edges and residency constraints)
        parent = {g: g for g in free}
        order = {g: i for i, g in enumerate(free)}

        def find(g: str) -> str:
            while parent[g] != g:
                parent[g] = parent[parent[g]]
                g = parent[g]
            return g

        links = [(a, b) for a, b in pair] + [(a, b) for a, b, _s in self.constraints]
        for a, b in links:
            ra, rb = find(a), find(b)
            if ra != rb:
                if order[ra] < order[rb]:
                    parent[rb] = ra
                else:
                    parent[ra] = rb
        by_root: dict[str, list[str]] = {}
        for g in free:
            by_root.setdefault(find(g), []).append(g)
        self.components: list[Component] = []
        comp_of: dict[str, tuple[int, int]] = {}
        for ci, groups in enumerate(by_root.values()):
            for k, g in enumerate(groups):
                comp_of[g] = (ci, k)
        edges: list[list[tuple[int, int, float]]] = [[] for _ in by_root]
        counts: list[list[int]] = [[] for _ in by_root]
        for (a, b), w in pair.items():
            ci, ka = comp_of[a]
            edges[ci].append((ka, comp_of[b][1], w))
            counts[ci].append(count[(a, b)])
        residency: list[list[tuple[int, int, int]]] = [[] for _ in by_root]
        for a, b, s in self.constraints:
            ci, ka = comp_of[a]
            residency[ci].append((ka, comp_of[b][1], s))
        for ci, groups in enumerate(by_root.values()):
            self.components.append(
                Component(
                    groups,
                    [self.domain[g] for g in groups],
                    [unary[g] for g in groups],
                    edges[ci],
                    residency[ci],
                    m,
                    [problem.label(g) for g in groups],
                    f,
                    counts[ci],
                )
            )

    def expand(self, solutions: list[Assignment]) -> dict[str, str]:
        """node -> site, from the fixed groups and one assignment per component."""
        site_of = dict(self.fixed)
        for comp, x in zip(self.components, solutions, strict=True):
            for g, s in zip(comp.groups, x, strict=True):
                site_of[g] = s
        return {n: self.sites[site_of[self.group_of[n]]] for n in self.problem.nodes}


Method = Callable[[Component], Assignment]


def prepare(problem: PlacementProblem) -> Prepared:
    """Prepare ``problem`` for the strategies: fixed groups plus independent components (a
    :class:`Prepared`).
    """
    return Prepared(problem)


def solve(problem: PlacementProblem, method: Callable[[Component], Method]) -> dict[str, str]:
    """Prepare ``problem``, solve each component with ``method(component)``, expand.

    With time costs (:attr:`PlacementProblem.timed`), the result is also compared with
    :func:`reference_rule`'s placement, and the cheaper one is returned (ours on ties),
    so that no strategy is ever worse than NVIDIA DFM's rule on the same estimates.
    """
    prepared = prepare(problem)
    placement = prepared.expand([method(comp)(comp) for comp in prepared.components])
    if problem.timed:
        other = reference_rule(prepared)
        if other is not None:
            ours, theirs = problem.cost(placement), problem.cost(other)
            if theirs < ours - 1e-9 * max(1.0, abs(ours)):
                return other
    return placement


def no_feasible_placement(comp: Component) -> CompileError:
    """The error for a component whose groups each have a site, but not all at once."""
    return CompileError(
        "no placement satisfies the data residency policies of "
        + ", ".join(comp.labels)
        + " together (each of them alone has an allowed site, but not all at once)"
    )
