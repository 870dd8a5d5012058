"""dfm-runner's hook implementations: transports and the ``dfm fed submit`` and ``dfm cache`` commands."""

from __future__ import annotations

from collections.abc import Iterator

from dfm.kernel import CliCommandEntry, TransportEntry, hookimpl


@hookimpl
def dfm_transports() -> Iterator[TransportEntry]:
    """The transports: inproc (the default) and process."""
    yield TransportEntry(
        "inproc",
        "dfm.runner.transports.inproc:InprocTransport",
        summary="every site in this process (the embedded default)",
    )
    yield TransportEntry(
        "process",
        "dfm.runner.transports.process:ProcessTransport",
        summary="one OS process per site on this machine",
    )


@hookimpl(optionalhook=True)
def dfm_cli_commands() -> Iterator[CliCommandEntry]:
    """dfm fed submit and dfm cache (the hook's spec is dfm-cli's, hence optional)."""
    yield CliCommandEntry(
        "submit", "dfm.runner.cli:submit", summary="Run a pipeline or a script on a federation.", parent="fed"
    )
    yield CliCommandEntry(
        "cache",
        "dfm.runner.cachecli:cache",
        summary="List or clear the sites' pipeline caches (TryFromCache).",
    )
