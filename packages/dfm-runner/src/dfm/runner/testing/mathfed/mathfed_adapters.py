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
    """``math.Range``: the integers below ``n``."""

    def body(self, n: int) -> list[int]:
        """``[0, 1, ..., n - 1]``."""
        return list(range(n))


class Nonce(_Base):
    """``[x * x, a fresh random hex]``: tells a computed value from a cached one (TryFromCache)."""

    def body(self, x: float) -> list[Any]:
        """Square ``x`` and draw a fresh nonce."""
        import secrets

        return [x * x, secrets.token_hex(8)]


class Square(_Base):
    """``math.Square``: ``x * x``; its discovery advisor offers different values at each site."""

    @field_advisor("x")
    def valid_x(self, value: Any, context: dict[str, Any]) -> Any:  # discovery: what this site squares
        """The values of ``x`` this site squares (different per site)."""
        return AdvisedOneOf({"home": [1, 2], "alpha": [3], "beta": [4, 5]}[self.site.name])

    def body(self, x: float) -> float:
        """``x`` squared."""
        return x * x


class Add(_Base):
    """``math.Add``: an async adapter with advisors that depend on each other (``b`` reads ``a``)."""

    @field_advisor("b", order=2)  # runs after "a" and reads what "a" decided
    async def valid_b(self, value: Any, context: dict[str, Any]) -> Any:
        """Ten times what ``a`` was advised to be."""
        return AdvisedLiteral(context["a"] * 10)

    @field_advisor("a", order=1)
    def valid_a(self, value: Any, context: dict[str, Any]) -> Any:
        """Always 7."""
        return AdvisedOneOf([7])

    async def body(self, a: float, b: float) -> float:
        """``a + b``."""
        return a + b


class Sum(_Base):
    """``math.Sum``: the sum of a list."""

    def body(self, values: list[float]) -> float:
        """The sum of ``values``."""
        return sum(values)


class Fail(_Base):
    """``math.Fail``: raises, in its body and in its advisor."""

    @field_advisor("message")
    def no_advice(self, value: Any, context: dict[str, Any]) -> Any:
        """Raises: discovery reports the advisor's error."""
        raise ValueError(f"no advice on {value!r} today")

    def body(self, message: str) -> None:
        """Raises ``RuntimeError(message)``."""
        raise RuntimeError(message)


class Sleep(_Base):
    """``math.Sleep``: waits asynchronously; counts how often it was cancelled."""

    cancelled = 0

    async def body(self, seconds: float, value: Any = None) -> Any:
        """``value`` after ``seconds``."""
        try:
            await asyncio.sleep(seconds)
        except asyncio.CancelledError:
            Sleep.cancelled += 1
            raise
        return value


class SleepSync(_Base):
    """``math.SleepSync``: blocks its worker thread."""

    def body(self, seconds: float) -> float:
        """``seconds`` after sleeping that long."""
        time.sleep(seconds)
        return seconds


class Hang(_Base):
    """A sync adapter that never returns: only abandoning its thread ends the call."""

    def body(self) -> None:
        """Waits forever."""
        threading.Event().wait()


class UseSecret(_Base):
    """``math.UseSecret``: receives a secret from the vault; its result and errors must not show it."""

    def body(self, token: str, fail: bool = False) -> str:
        """A sentence about the token's length, or an error quoting the token when ``fail``."""
        if fail:
            raise ValueError(f"the service rejected token {token}")
        return f"authenticated with a token of {len(token)} characters"


class Array(_Base):
    """``math.Array``: a numpy array (large buffers travel without pickle)."""

    def body(self, n: int) -> Any:
        """``numpy.arange(n)`` as float64."""
        import numpy

        return numpy.arange(n, dtype=numpy.float64)


class Unsafe(_Base):
    """``math.Unsafe``: a value only pickle could carry."""

    def body(self) -> Any:
        """A set."""
        return {1, 2, 3}  # a set: the safe codec cannot carry it


class Scale(_Base):
    """``math.Scale``: ``x * factor + offset``, with defaults for the last two."""

    def body(self, x: float, factor: float = 1.0, offset: float = 0.0) -> float:
        """``x * factor + offset``."""
        return x * factor + offset


class SyncStream(_Base):
    """Returns a generator: its items reach a Yield (or a ForEach) one by one."""

    def body(self, n: int) -> Any:
        """A generator of ``0, 10, ..., 10 * (n - 1)``."""
        return (i * 10 for i in range(n))


class AsyncStream(_Base):
    """``math.AsyncStream``: returns an async generator of ``n`` items."""

    async def body(self, n: int) -> Any:
        """An async generator of ``0, 10, ..., 10 * (n - 1)``."""

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
        """An endless async generator of ``0, 1, 2, ...``."""

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
    """An endless generator; counts what it produced and whether it was closed."""

    produced = 0
    closed = 0

    def body(self) -> Any:
        """An endless generator of ``0, 1, 2, ...``."""

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
    """``math.Echo``: returns its input."""

    def body(self, value: Any) -> Any:
        """``value``, unchanged."""
        return value


@attrs.frozen
class Point:
    """A result with attributes and a method (selectors reach the attributes only)."""

    x: float
    y: float

    def secret(self) -> str:  # a method: never reachable by a selector
        """A method: no selector may call it."""
        return "method called"


class MakePoint(_Base):
    """``math.MakePoint``: an attrs value, with nested advice for discovery."""

    @field_advisor("x")
    def valid_x(self, value: Any, context: dict[str, Any]) -> Any:
        """Nested advice: a literal and a date range."""
        return AdvisedDict({"lo": AdvisedLiteral(0), "when": AdvisedDateRange("2024-01-01", "2024-12-31")})

    @field_advisor("y")
    def valid_y(self, value: Any, context: dict[str, Any]) -> Any:
        """Any subset of 1, 2 and 3."""
        return AdvisedSubsetOf([1, 2, 3])

    def body(self, x: float, y: float) -> Point:
        """``Point(x, y)``."""
        return Point(x, y)
