"""Adapters of the runner's test federation."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import attrs


class _Base:
    def __init__(self, site: Any, provider: Any):
        self.site = site
        self.provider = provider


class Range(_Base):
    def body(self, n: int) -> list[int]:
        return list(range(n))


class Square(_Base):
    def body(self, x: float) -> float:
        return x * x


class Add(_Base):
    async def body(self, a: float, b: float) -> float:
        return a + b


class Fail(_Base):
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
    def body(self, x: float, y: float) -> Point:
        return Point(x, y)
