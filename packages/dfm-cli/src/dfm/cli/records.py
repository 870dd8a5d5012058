"""The record returned by ``dfm_cli_commands``."""

from __future__ import annotations

import re
from typing import ClassVar

import attrs

from dfm.kernel.records import Entry


@attrs.frozen
class CliCommandEntry(Entry):
    """A click command or group mounted under ``dfm`` (or under ``dfm <parent>``)."""

    kind: ClassVar[str] = "cli command"
    name_re: ClassVar[re.Pattern[str]] = re.compile(r"^[a-z][a-z0-9-]*$")

    parent: str | None = None  # e.g. "fed" to mount under "dfm fed"
