"""Adapters of {{ cookiecutter.federation_name }}: the code a site runs for an operation.

An adapter class is created once per site and session with the site's
context; ``body`` runs for every call, with the arguments the site's
interface binds (``from-param``, ``const``, ``from-site``, ``from-secrets``...).
"""

from __future__ import annotations

from typing import Any


class Greet:
    """{{ cookiecutter.operation_namespace }}.Greet: a greeting from the site that runs it."""

    def __init__(self, site: Any, provider: Any):
        self.site = site

    def body(self, name: str, where: str = "somewhere") -> str:
        return f"Hello, {name}! Greetings from {where}."
