"""Adapters of the runner's test federation."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import attrs

from dfm.api import (
    AdvisedDateRange,
    AdvisedDict,
    AdvisedLiteral,
    AdvisedOneOf,
    AdvisedSubsetOf,
    field_advisor,
)


class _Base:
    def __init__(self, site: Any, provider: Any):
        self.site = site
        self.provider = provider


class Range(_Base):
    def body(self, n: int) -> list[int]:
        return list(range(n))


class Nonce(_Base):
    """``[x * x, a fresh random hex]``: tells a computed value from a cached one (TryFromCache)."""

    def body(self, x: float) -> list[Any]:
        import secrets

        return [x * x, secrets.token_hex(8)]


class Square(_Base):
    @field_advisor("x")
    def valid_x(self, value: Any, context: dict[str, Any]) -> Any:  # discovery: what this site squares
        return AdvisedOneOf({"home": [1, 2], "alpha": [3], "beta": [4, 5]}[self.site.name])

    def body(self, x: float) -> float:
        return x * x


class Add(_Base):
    @field_advisor("b", order=2)  # runs after "a" and reads what "a" decided
    async def valid_b(self, value: Any, context: dict[str, Any]) -> Any:
        return AdvisedLiteral(context["a"] * 10)

    @field_advisor("a", order=1)
    def valid_a(self, value: Any, context: dict[str, Any]) -> Any:
        return AdvisedOneOf([7])

    async def body(self, a: float, b: float) -> float:
        return a + b


class Sum(_Base):
    def body(self, values: list[float]) -> float:
        return sum(values)


class Fail(_Base):
    @field_advisor("message")
    def no_advice(self, value: Any, context: dict[str, Any]) -> Any:
        raise ValueError(f"no advice on {value!r} today")

    def body(self, message: str) -> None:
        raise RuntimeError(message)


class Sleep(_Base):
    cancelled = 0

    async def body(self, seconds: float, value: Any = None) -> Any:
        try:
            await asyncio.sleep(seconds)
        except asyncio.CancelledError:
            Sleep.cancelled += 1
            raise
        return value


class SleepSync(_Base):
    def body(self, seconds: float) -> float:
        time.sleep(seconds)
        return seconds


class Hang(_Base):
    """A sync adapter that never returns: only abandoning its thread ends the call."""

    def body(self) -> None:
        threading.Event().wait()


class UseSecret(_Base):
    def body(self, token: str, fail: bool = False) -> str:
        if fail:
            raise ValueError(f"the service rejected token {token}")
        return f"authenticated with a token of {len(token)} characters"


class Array(_Base):
    def body(self, n: int) -> Any:
        import numpy

        return numpy.arange(n, dtype=numpy.float64)


class Unsafe(_Base):
    def body(self) -> Any:
        return {1, 2, 3}  # a set: the safe codec cannot carry it


class Scale(_Base):
    def body(self, x: float, factor: float = 1.0, offset: float = 0.0) -> float:
        return x * factor + offset


class SyncStream(_Base):
    """Returns a generator: its items reach a Yield (or a ForEach) one by one."""

    def body(self, n: int) -> Any:
        return (i * 10 for i in range(n))


class AsyncStream(_Base):
    async def body(self, n: int) -> Any:
        async def items() -> Any:
            for i in range(n):
                await asyncio.sleep(0)
                yield i * 10

        return items()


class AsyncForever(_Base):
    """An endless async generator; counts what it produced and whether it was closed."""

    produced = 0
    closed = 0

    async def body(self) -> Any:
        async def items() -> Any:
            i = 0
            try:
                while True:
                    await asyncio.sleep(0)
                    AsyncForever.produced += 1
                    yield i
                    i += 1
            finally:
                AsyncForever.closed += 1

        return items()


class SyncForever(_Base):
    produced = 0
    closed = 0

    def body(self) -> Any:
        def items() -> Any:
            i = 0
            try:
                while True:
                    SyncForever.produced += 1
                    yield i
                    i += 1
            finally:
                SyncForever.closed += 1

        return items()


class Echo(_Base):
    def body(self, value: Any) -> Any:
        return value


@attrs.frozen
class Point:
    x: float
    y: float

    def secret(self) -> str:  # a method: never reachable by a selector
        return "method called"


class MakePoint(_Base):
    @field_advisor("x")
    def valid_x(self, value: Any, context: dict[str, Any]) -> Any:
        return AdvisedDict({"lo": AdvisedLiteral(0), "when": AdvisedDateRange("2024-01-01", "2024-12-31")})

    @field_advisor("y")
    def valid_y(self, value: Any, context: dict[str, Any]) -> Any:
        return AdvisedSubsetOf([1, 2, 3])

    def body(self, x: float, y: float) -> Point:
        return Point(x, y)
