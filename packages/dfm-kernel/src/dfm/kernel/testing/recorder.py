"""Record hook calls through pluggy's call monitoring."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from types import TracebackType
from typing import Any

import attrs
import pluggy

__all__ = ["HookCall", "HookRecorder"]


@attrs.frozen
class HookCall:
    """One call of a hook: which implementations ran and what came out."""

    hook: str
    kwargs: dict[str, Any]
    plugins: tuple[str, ...]  # names of the plugins whose implementations were called
    result: Any = None  # the list of non-None results, when no implementation raised
    exception: BaseException | None = None


class HookRecorder:
    """Records every hook call of a plugin manager, in order.

    Use as a context manager, or call :meth:`start` / :meth:`stop`::

        with HookRecorder(manager) as recorder:
            manager.registry("adapters")
        assert recorder.names() == ["dfm_adapters"]
    """

    def __init__(self, manager: pluggy.PluginManager) -> None:
        self.manager = manager
        self.calls: list[HookCall] = []
        self._undo: Callable[[], None] | None = None

    def start(self) -> HookRecorder:
        """Begin recording (idempotent)."""
        if self._undo is None:
            self._undo = self.manager.add_hookcall_monitoring(self._before, self._after)
        return self

    def stop(self) -> None:
        """Stop recording; the recorded calls stay available."""
        if self._undo is not None:
            self._undo()
            self._undo = None

    def __enter__(self) -> HookRecorder:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _before(
        self, hook_name: str, hook_impls: Sequence[pluggy.HookImpl], kwargs: Mapping[str, Any]
    ) -> None:
        pass

    def _after(
        self,
        outcome: pluggy.Result[Any],
        hook_name: str,
        hook_impls: Sequence[pluggy.HookImpl],
        kwargs: Mapping[str, Any],
    ) -> None:
        exception = outcome.exception
        self.calls.append(
            HookCall(
                hook=hook_name,
                kwargs=dict(kwargs),
                plugins=tuple(impl.plugin_name for impl in hook_impls),
                result=None if exception is not None else outcome.get_result(),
                exception=exception,
            )
        )

    def names(self) -> list[str]:
        """Hook names in call order."""
        return [call.hook for call in self.calls]

    def getcalls(self, hook: str) -> list[HookCall]:
        """The calls of one hook."""
        return [call for call in self.calls if call.hook == hook]

    def clear(self) -> None:
        """Forget the calls recorded so far."""
        self.calls.clear()
