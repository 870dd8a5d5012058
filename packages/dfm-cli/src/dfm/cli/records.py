"""The record returned by ``dfm_cli_commands``."""

from __future__ import annotations

import re
from typing import ClassVar

import attrs

from dfm.kernel.records import Entry

__all__ = ["CliCommandEntry"]


@attrs.frozen
class CliCommandEntry(Entry):
    """A click command or group mounted under ``dfm`` (or under ``dfm <parent>``).

    ``target`` resolves to a :class:`click.Command`; ``parent`` is the command
    path of the group to mount it in (``"fed"``, or ``"fed gen"`` for a group
    contributed under ``fed``), ``None`` for the top level. Commands are unique
    by their full path (:attr:`key`), so ``dfm validate`` and ``dfm fed validate``
    do not conflict.
    """

    kind: ClassVar[str] = "cli command"
    name_re: ClassVar[re.Pattern[str]] = re.compile(r"^[a-z][a-z0-9-]*$")

    parent: str | None = None  # e.g. "fed" to mount under "dfm fed"

    @property
    def key(self) -> str:
        """The command's path under ``dfm``: ``"fed validate"``."""
        return f"{self.parent} {self.name}" if self.parent else self.name

    def problems(self) -> list[str]:
        found = super().problems()
        if self.parent is not None and (
            not isinstance(self.parent, str)
            or not self.parent.split()
            or not all(self.name_re.match(word) for word in self.parent.split(" "))
        ):
            found.append(
                f"{self.kind} {self.name!r}: parent {self.parent!r} must be a command path "
                "such as 'fed' or 'fed gen'"
            )
        return found
