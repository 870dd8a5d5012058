"""dfm-flare's hooks: the ``flare`` transport, the ``docker``/``compose``/``helm`` emitters, ``dfm fed gen
provision``, ``dfm poc`` and ``dfm deploy``.

Cheap to import: records point at their implementations by import string, so
``dfm --help`` and ``dfm plugins list`` never import nvflare.
"""

from __future__ import annotations

from collections.abc import Iterator

from dfm.kernel import CliCommandEntry, EmitterEntry, EmitterOption, TransportEntry, hookimpl


@hookimpl
def dfm_transports() -> Iterator[TransportEntry]:
    """The ``flare`` transport."""
    yield TransportEntry(
        "flare",
        "dfm.flare.transport:FlareTransport",
        summary="sites as NVIDIA FLARE clients, one long-lived FLARE job per session",
    )


# The docker, compose and helm emitters; their options are the command line of 'dfm fed gen KIND'.

_FORCE = EmitterOption("--force", "Replace the files an earlier run generated.", flag=True)
_PATCH = EmitterOption(
    "--patch",
    "A YAML/JSON merge patch with keys provision, values, compose (docs: Deploying).",
    metavar="FILE",
)
_OUT = EmitterOption("--out", "Same as --output-dir (its earlier name).", metavar="DIR")
_HOST = EmitterOption(
    "--server-host",
    "The server's host name in the kits ('dfm fed gen provision NAME --host ...') [server].",
    metavar="HOST",
)
_PORT = EmitterOption("--port", "The server's port in the kits [8002].", metavar="PORT")
_KITS = EmitterOption(
    "--kits", "Provisioned kits (a prod_NN folder or the provision folder) [./NAME-flare].", metavar="DIR"
)

EMITTERS = (
    EmitterEntry(
        "docker",
        "dfm.flare.images.emit:emit_docker",
        summary="Dockerfiles (one image per FLARE role) and a build script",
        takes="federation",
        writes="NAME-docker/ (or provision.docker.dockerfile.dir): a Dockerfile per role, build.sh",
        options=(
            _FORCE,
            _PATCH,
            _OUT,
            EmitterOption("--base-image", "Base image of every role [python:3.11-slim].", metavar="IMAGE"),
            _KITS,
            EmitterOption(
                "--wheelhouse",
                "Wheelhouse the images install from (python3 dev/nox.py -s build) [./dist].",
                metavar="DIR",
            ),
        ),
    ),
    EmitterEntry(
        "compose",
        "dfm.flare.images.emit:emit_compose",
        summary="a docker compose file for the server and every site",
        takes="federation",
        writes="NAME-compose/compose.yaml",
        options=(_FORCE, _PATCH, _OUT, _HOST, _PORT),
    ),
    EmitterEntry(
        "helm",
        "dfm.flare.images.emit:emit_helm",
        summary="a Helm chart for the server and every site, and a deploy script",
        takes="federation",
        writes="NAME-helm/ (or provision.helm.path): a chart and deploy.sh",
        options=(_FORCE, _PATCH, _OUT, _HOST, _PORT, _KITS),
    ),
)


@hookimpl
def dfm_emitters() -> Iterator[EmitterEntry]:
    """``docker``, ``compose`` and ``helm``: container deployments of a federation (``dfm fed gen KIND``)."""
    yield from EMITTERS


@hookimpl(optionalhook=True)
def dfm_cli_commands() -> Iterator[CliCommandEntry]:
    """``dfm fed gen provision``, ``dfm poc`` and ``dfm deploy``."""
    yield CliCommandEntry(
        "provision",
        "dfm.flare.cli:provision",
        summary="FLARE project.yml and mTLS startup kits for a federation.",
        parent="fed gen",  # the group is dfm-cli's
    )
    yield CliCommandEntry("poc", "dfm.flare.cli:poc", summary="Run a federation on FLARE on this machine.")
    yield CliCommandEntry(
        "deploy", "dfm.flare.cli:deploy", summary="A federation's FLARE deployment: who is connected."
    )
