"""Errors of the compiler's tools (the compiler itself raises :class:`dfm.kernel.CompileError`)."""

from __future__ import annotations

from dfm.kernel.errors import DfmError, PipelineFileError

__all__ = ["GraphvizNotFoundError", "PipelineFileError", "RenderError"]


class RenderError(DfmError):
    """A placed pipeline could not be rendered."""


class GraphvizNotFoundError(RenderError):
    """SVG/PNG output needs Graphviz's ``dot`` program, which is not installed."""
