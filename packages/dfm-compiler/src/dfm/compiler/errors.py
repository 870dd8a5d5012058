"""Errors of the compiler's tools (the compiler itself raises :class:`dfm.kernel.CompileError`)."""

from __future__ import annotations

from dfm.kernel.errors import DfmError

__all__ = ["GraphvizNotFoundError", "PipelineFileError", "RenderError"]


class RenderError(DfmError):
    """A placed pipeline could not be rendered."""


class GraphvizNotFoundError(RenderError):
    """SVG/PNG output needs Graphviz's ``dot`` program, which is not installed."""


class PipelineFileError(DfmError):
    """A pipeline file given to ``dfm pipeline show`` could not be used."""
