"""Unit tests of the adapters' ``body``."""

from __future__ import annotations

import pytest
from dfm.kernel.testing import check_adapter_class

from dfm_adapter_{{ cookiecutter.underscored }}.adapters import Hello


def test_contract():
    check_adapter_class(Hello, args=["name", "greeting"])
    check_adapter_class(Hello, args=["name"])  # greeting may stay unbound


def test_hello(site):
    assert Hello(site, None).body(name="Ada") == "Hello, Ada! (from home)"
    assert Hello(site, None).body(name="Ada", greeting="Welcome") == "Welcome, Ada! (from home)"


def test_hello_rejects_an_empty_name(site):
    with pytest.raises(ValueError, match="name must be a non-empty string"):
        Hello(site, None).body(name=" ")
