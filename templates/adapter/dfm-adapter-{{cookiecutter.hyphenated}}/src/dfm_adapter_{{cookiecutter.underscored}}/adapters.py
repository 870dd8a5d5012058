"""Adapters of dfm-adapter-{{ cookiecutter.hyphenated }}.

An adapter is a class. Each site creates it once as ``cls(site, provider)``:
``site`` has ``name``, ``federation``, ``config`` (the site's config mapping)
and ``is_homesite``; ``provider`` has ``name`` and ``config``, or is None.
Then the site calls ``body(**args)`` for every operation call, with the
arguments its interface entry binds (``from-param``, ``const``, ``from-site``,
``from-provider``, ``from-secrets``); an argument with no binding keeps its
default. A sync ``body`` runs in the site's thread pool, an ``async`` one on
its event loop.

Import heavy libraries inside the methods that need them, not at the top.
"""

from __future__ import annotations

from typing import Any


class Hello:
    """``{{ cookiecutter.operation_namespace }}.Hello``: greets ``name``.

    Bindings: ``name`` from the pipeline (``from-param``); ``greeting`` from the
    site (``const`` or ``from-site``), "Hello" when unbound.
    """

    def __init__(self, site: Any, provider: Any) -> None:
        self.site = site
        self.provider = provider

    def body(self, name: str, greeting: str = "Hello") -> str:
        if not isinstance(name, str) or not name.strip():
            # Raise with a clear message: the job fails with it, naming this site and operation.
            raise ValueError(f"name must be a non-empty string, got {name!r}")
        return f"{greeting}, {name}! (from {self.site.name})"
