"""Adapters of the benchmark federation: as cheap as possible, so the runner is what is measured."""

from __future__ import annotations

from typing import Any


class _Base:
    def __init__(self, site: Any, provider: Any):
        self.site = site


class Echo(_Base):
    async def body(self, value: Any) -> Any:
        return value


class Range(_Base):
    async def body(self, n: int) -> list[int]:
        return list(range(n))


class Array(_Base):
    async def body(self, mb: int) -> Any:
        import numpy

        return numpy.ones(mb * 1024 * 1024 // 8, dtype=numpy.float64)
