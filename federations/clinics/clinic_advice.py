"""The clinics' ``clinic.Summary`` adapter: ``sql.Aggregate`` plus discovery advisors.

In discovery (``Pipeline(mode="discovery")``) each clinic says, from its own database and
config, what it can serve -- never a patient row:

- ``kind``: the aggregates it computes;
- ``column``: the numeric columns of its ``patients`` query (read with ``LIMIT 0``);
- ``by``: the columns it groups by;
- ``cohorts``: once ``by`` is ``"cohort"``, the cohorts with at least ``MIN_GROUP``
  patients (smaller ones are not named, so no small group can be singled out);
- ``min_age``: the ages its patients span (one aggregate query);
- ``period``: the dates its records cover (``records-period`` in the site's config).

``cohorts`` and ``period`` are informational fields: not parameters of ``clinic.Summary``,
they tell the application what the clinic's data holds.
"""

from __future__ import annotations

from typing import Any

from dfm_adapter_sql.adapters import AGGREGATE_KINDS, Aggregate

from dfm.api import AdvisedDateRange, AdvisedError, AdvisedOneOf, AdvisedSubsetOf, Okay, field_advisor

QUERY = "patients"  # the named query clinic.Summary binds (see clinics.dfm.yaml)
MIN_GROUP = 5  # cohorts smaller than this are not advertised
GROUPABLE = ("sex", "cohort", "diagnosis")


class Summary(Aggregate):
    """``sql.Aggregate`` with advisors (what discovery asks); ``body`` is unchanged."""

    def _select(self, outer: str) -> tuple[list[str], list[Any]]:
        """Run a read-only ``SELECT`` over the named query (``{q}`` is the query as a subquery)."""
        sql, defaults = self.named_query(QUERY)
        inner = sql.strip().rstrip(";").strip()
        with self.connect(None, None) as connection:
            return self.run(connection, QUERY, outer.format(q=f"({inner}) AS dfm_q"), dict(defaults), None)

    @field_advisor("kind", order=1)
    def kinds(self, value: Any, context: dict[str, Any]) -> Any:
        if value is not None and value not in AGGREGATE_KINDS:
            return AdvisedError(f"unknown aggregate kind {value!r}")
        return AdvisedOneOf(list(AGGREGATE_KINDS))

    @field_advisor("column", order=2)
    def columns(self, value: Any, context: dict[str, Any]) -> Any:
        if context.get("kind") == "count" and value is None:
            return Okay()  # a count needs no column
        names, rows = self._select("SELECT * FROM {q} LIMIT 1")
        numeric = [n for n, v in zip(names, rows[0] if rows else (), strict=False) if type(v) in (int, float)]
        numeric = [n for n in numeric if n != "id"]
        if value is not None and value not in numeric:
            return AdvisedError(
                f"column {value!r} is not a numeric column here (columns: {', '.join(numeric)})"
            )
        return AdvisedOneOf(numeric)

    @field_advisor("by", order=3)
    def groups(self, value: Any, context: dict[str, Any]) -> Any:
        names, _ = self._select("SELECT * FROM {q} LIMIT 0")
        usable = [n for n in GROUPABLE if n in names]
        if value is not None and value not in usable:
            return AdvisedError(f"cannot group by {value!r} here (by: {', '.join(usable)})")
        return AdvisedOneOf(usable)

    @field_advisor("cohorts", order=4)
    def cohorts(self, value: Any, context: dict[str, Any]) -> Any:
        if context.get("by") != "cohort":
            return Okay()
        _, rows = self._select(
            f"SELECT cohort FROM {{q}} GROUP BY cohort HAVING COUNT(*) >= {MIN_GROUP} ORDER BY cohort"
        )
        return AdvisedSubsetOf([row[0] for row in rows])

    @field_advisor("min_age", order=5)
    def ages(self, value: Any, context: dict[str, Any]) -> Any:
        _, rows = self._select("SELECT MIN(age), MAX(age) FROM {q}")
        low, high = rows[0]
        if low is None:
            return AdvisedError("no patients here")
        return AdvisedOneOf(list(range(int(low), int(high) + 1)))

    @field_advisor("period", order=6)
    def period(self, value: Any, context: dict[str, Any]) -> Any:
        period = self._setting("records-period")
        if not isinstance(period, dict) or "from" not in period or "to" not in period:
            return Okay()
        return AdvisedDateRange(str(period["from"]), str(period["to"]))
