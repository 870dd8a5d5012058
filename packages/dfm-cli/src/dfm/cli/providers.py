"""Which distribution provides each core ``dfm`` command: the one table behind the hints.

``dfm fed submit`` with only dfm-cli installed says which distribution to install
instead of click's bare "No such command". Commands come from plugins, so this
table only names where DFM's own commands live; it never mounts anything.
"""

from __future__ import annotations

__all__ = ["PROVIDERS", "provider_of"]

# command path -> distribution (its dfm_cli_commands hook yields that command)
PROVIDERS: dict[str, str] = {
    "fed submit": "dfm-runner",
    "pipeline": "dfm-compiler",
    "fed gen provision": "dfm-flare",
    "poc": "dfm-flare",
}


def provider_of(path: str) -> str | None:
    """The distribution providing the command at ``path`` (``"fed submit"``) or one of its parents."""
    parts = path.split()
    while parts:
        found = PROVIDERS.get(" ".join(parts))
        if found is not None:
            return found
        parts.pop()
    return None
