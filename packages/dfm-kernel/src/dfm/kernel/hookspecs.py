"""The kernel's hook specifications: the only place kernel hooks are declared.

Every hook is a *registry hook*: it takes no arguments and returns one record
or an iterable of records (see :mod:`dfm.kernel.records`). The plugin manager
collects each registry once, on first use, stamps provenance on the records,
and rejects two plugins that claim the same name.

Evolution rules: hooks start with zero parameters; parameters may only be
added (pluggy lets implementations take a subset); hooks are never renamed
or removed, only deprecated with ``warn_on_impl``. No historic hooks, no
wrappers, no ``firstresult`` on registry hooks.

Plugin authors use :data:`dfm.kernel.hookimpl`; the spec marker stays here.
"""

from __future__ import annotations

from collections.abc import Iterable

import pluggy

from dfm.kernel.records import (
    AdapterEntry,
    CodecEntry,
    EmitterEntry,
    PlacementStrategyEntry,
    TransportEntry,
)

PROJECT = "dfm"
_spec = pluggy.HookspecMarker(PROJECT)


@_spec
def dfm_adapters() -> AdapterEntry | Iterable[AdapterEntry]:  # type: ignore[empty-body]
    """Adapters this plugin provides.

    **Returns** one :class:`~dfm.kernel.records.AdapterEntry` or an iterable of them.
    The target resolves to an adapter class: ``__init__(self, site, provider)`` and
    ``body(self, **args)``, sync or async.

    **When called**: once per process on first use of the adapter registry: by
    ``dfm adapters list``, by config validation and by each site at start-up.

    **Names and conflicts**: the name is the registry name a federation config
    puts under ``adapter:`` (``"sql.Query"``; a config may also name an adapter
    by dotted import path); two plugins claiming the same name is an error
    naming both distributions.

    **Example**::

        from dfm.kernel import AdapterEntry, hookimpl

        @hookimpl
        def dfm_adapters():
            yield AdapterEntry("echo.Echo", "my_adapters.echo:Echo", summary="returns its input")

    Check your classes with ``dfm.kernel.testing.check_adapter_class``. Implemented in
    every ``dfm-adapter-*`` distribution (``dfm_adapter_<name>.plugin``).

    .. versionadded:: 0.1
    """


@_spec
def dfm_placement_strategies() -> PlacementStrategyEntry | Iterable[PlacementStrategyEntry]:  # type: ignore[empty-body]
    """Placement strategies this plugin provides.

    **Returns** one :class:`~dfm.kernel.records.PlacementStrategyEntry` or an iterable.
    The target resolves to a callable ``strategy(problem) -> dict[node, site]``.

    **When called**: once per process, at the first compilation.

    **Names and conflicts**: lowercase names (``optimal``, ``greedy``, ``auto``);
    two plugins claiming the same name is an error.

    **Example**::

        from dfm.kernel import PlacementStrategyEntry, hookimpl

        @hookimpl
        def dfm_placement_strategies():
            return PlacementStrategyEntry(
                "random", "my_pkg.placement:random_strategy", summary="any feasible site, at random"
            )

    Implemented in ``dfm.compiler.plugin`` (``optimal``, ``greedy``, ``auto``).

    .. versionadded:: 0.1
    """


@_spec
def dfm_transports() -> TransportEntry | Iterable[TransportEntry]:  # type: ignore[empty-body]
    """Transports this plugin provides.

    **Returns** one :class:`~dfm.kernel.records.TransportEntry` or an iterable. The
    target resolves to a transport class (see ``dfm.runner``).

    **When called**: once per process, when a session is opened.

    **Names and conflicts**: lowercase names (``inproc``, ``process``, ``flare``);
    two plugins claiming the same name is an error.

    **Example**::

        from dfm.kernel import TransportEntry, hookimpl

        @hookimpl
        def dfm_transports():
            yield TransportEntry(
                "carrier-pigeon", "my_pkg.transport:PigeonTransport", summary="RFC 1149 datagrams"
            )

    Implemented in ``dfm.runner.plugin`` (``inproc``, ``process``) and ``dfm.flare.plugin`` (``flare``).

    .. versionadded:: 0.1
    """


@_spec
def dfm_emitters() -> EmitterEntry | Iterable[EmitterEntry]:  # type: ignore[empty-body]
    """Code and artifact emitters this plugin provides.

    **Returns** one :class:`~dfm.kernel.records.EmitterEntry` or an iterable. Its
    ``takes`` says what the target consumes: ``"pipeline"`` (``emit(prepared, federation)
    -> str | bytes``, a ``dfm pipeline show --format``) or ``"federation"`` (``emit(federation,
    *, config_path, output_dir, **options) -> list[Path]``, a ``dfm fed gen`` kind whose
    command-line options are the record's ``options``).

    **When called**: once per process, by ``dfm fed gen ...``, ``dfm pipeline show`` and
    provisioning (the ``python-api`` emitter writes each site's runtime module).

    **Names and conflicts**: lowercase names (``dot``, ``python-api``,
    ``flare-provision``); two plugins claiming the same name is an error.

    **Example**::

        from dfm.kernel import EmitterEntry, hookimpl

        @hookimpl
        def dfm_emitters():
            return EmitterEntry(
                "mermaid",
                "my_pkg.emitters:emit_mermaid",
                summary="placed graph as Mermaid",
                takes="pipeline",
                writes="text/vnd.mermaid",
            )

    Implemented in ``dfm.compiler.plugin`` and ``dfm.flare.plugin``.

    .. versionadded:: 0.1
    """


@_spec
def dfm_codecs() -> CodecEntry | Iterable[CodecEntry]:  # type: ignore[empty-body]
    """Payload codecs this plugin provides.

    **Returns** one :class:`~dfm.kernel.records.CodecEntry` or an iterable.

    **When called**: once per process, when a transport starts: every transport gets the
    codec the federation config names (``codec:``, default ``safe``) through
    :func:`dfm.kernel.codecs.codec_for`; the target is ``factory(allow_pickle=bool)``
    returning a :class:`dfm.kernel.codecs.Codec`.

    **Names and conflicts**: lowercase names; ``safe`` is the kernel's default
    and never unpickles. Two plugins claiming the same name is an error.

    **Example**::

        from dfm.kernel import CodecEntry, hookimpl

        @hookimpl
        def dfm_codecs():
            return CodecEntry("msgpack", "my_pkg.codecs:MsgpackCodec", summary="msgpack payloads")

    Implemented in ``dfm.kernel.plugin`` (``safe``).

    .. versionadded:: 0.1
    """
