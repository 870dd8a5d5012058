"""Unit tests of the async adapter (a coroutine ``body``; run here with asyncio.run)."""

from __future__ import annotations

import asyncio
import inspect

import pytest
from dfm.kernel.testing import check_adapter_class

from dfm_adapter_{{ cookiecutter.underscored }}.async_adapters import HelloLater


def test_contract():
    check_adapter_class(HelloLater, args=["name", "delay"])
    assert inspect.iscoroutinefunction(HelloLater.body)


def test_hello_later(site):
    greeting = asyncio.run(HelloLater(site, None).body(name="Ada", delay=0.01))
    assert greeting == "Hello, Ada! (from home, 0.01 s later)"


def test_negative_delay(site):
    with pytest.raises(ValueError, match="delay must be >= 0"):
        asyncio.run(HelloLater(site, None).body(name="Ada", delay=-1))
