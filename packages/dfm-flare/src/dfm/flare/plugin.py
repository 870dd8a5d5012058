"""dfm-flare's hooks: the ``flare`` transport, ``dfm fed gen provision|docker|compose|helm``, ``dfm poc``.

Cheap to import: records point at their implementations by import string, so
``dfm --help`` and ``dfm plugins list`` never import nvflare.
"""

from __future__ import annotations

from collections.abc import Iterator

from dfm.kernel import CliCommandEntry, TransportEntry, hookimpl


@hookimpl
def dfm_transports() -> Iterator[TransportEntry]:
    """The ``flare`` transport."""
    yield TransportEntry(
        "flare",
        "dfm.flare.transport:FlareTransport",
        summary="sites as NVIDIA FLARE clients, one long-lived FLARE job per session",
    )


@hookimpl(optionalhook=True)
def dfm_cli_commands() -> Iterator[CliCommandEntry]:
    """``dfm fed gen provision``, ``docker``, ``compose`` and ``helm``, and ``dfm poc`` and ``dfm deploy``."""
    yield CliCommandEntry(
        "provision",
        "dfm.flare.cli:provision",
        summary="FLARE project.yml and mTLS startup kits for a federation.",
        parent="fed gen",  # the group is dfm-cli's
    )
    for kind, summary in (
        ("docker", "Dockerfiles (one image per FLARE role) and a build script."),
        ("compose", "A docker compose file for the server and every site."),
        ("helm", "A Helm chart for the server and every site, and a deploy script."),
    ):
        yield CliCommandEntry(kind, f"dfm.flare.cli:{kind}", summary=summary, parent="fed gen")
    yield CliCommandEntry("poc", "dfm.flare.cli:poc", summary="Run a federation on FLARE on this machine.")
    yield CliCommandEntry(
        "deploy", "dfm.flare.cli:deploy", summary="A federation's FLARE deployment: who is connected."
    )
