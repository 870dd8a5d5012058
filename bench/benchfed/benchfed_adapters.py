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
    """Returns an array of ``mb`` MiB, made once per size, so runs measure transfer, not allocation."""

    made: dict[int, Any] = {}

    async def body(self, mb: int) -> Any:
        import numpy

        if mb not in self.made:
            self.made[mb] = numpy.ones(mb * 1024 * 1024 // 8, dtype=numpy.float64)
        return self.made[mb]


class Touch(_Base):
    """Reads one value per 4 KiB page, so every page of a mapped array is really received."""

    async def body(self, array: Any) -> float:
        return float(array[::512].sum())


class Blob(_Base):
    """A value of ``mb`` MiB: ``bytes``, ``str`` (ASCII) or a numpy ``uint8`` array, made fresh per call."""

    def body(self, kind: str, mb: int) -> Any:
        size = mb * 1024 * 1024
        if kind == "bytes":
            return b"x" * size
        if kind == "str":
            return "x" * size
        import numpy

        return numpy.full(size, 120, dtype=numpy.uint8)
