"""``svg`` and ``png``: the DOT rendering run through Graphviz's ``dot`` program."""

from __future__ import annotations

import shutil
import subprocess

from dfm.compiler.emitters import dot
from dfm.compiler.errors import GraphvizNotFoundError, RenderError
from dfm.kernel.config.models import Federation
from dfm.kernel.ir.net import PreparedPipeline

__all__ = ["emit_png", "emit_svg", "render"]

INSTALL_HINT = (
    "install Graphviz (Debian/Ubuntu: 'apt-get install graphviz', Fedora: 'dnf install graphviz', "
    "macOS: 'brew install graphviz') or use --format dot"
)


def render(dot_text: str, fmt: str) -> bytes:
    """Run ``dot -T<fmt>`` on ``dot_text``."""
    program = shutil.which("dot")
    if program is None:
        raise GraphvizNotFoundError(
            f"rendering {fmt} needs Graphviz's 'dot' program, which is not on PATH; {INSTALL_HINT}"
        )
    try:
        done = subprocess.run(
            [program, f"-T{fmt}"], input=dot_text.encode(), capture_output=True, check=False, timeout=120
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise RenderError(f"running {program} failed: {exc}") from None
    if done.returncode != 0:
        message = done.stderr.decode(errors="replace").strip()
        raise RenderError(f"{program} -T{fmt} failed (exit {done.returncode}): {message}")
    return done.stdout


def emit_svg(prepared: PreparedPipeline, federation: Federation | None = None) -> bytes:
    """The placed pipeline as an SVG picture, rendered by Graphviz from the DOT emitter's output; raises
    ``RenderError`` if that fails.
    """
    return render(dot.emit(prepared, federation), "svg")


def emit_png(prepared: PreparedPipeline, federation: Federation | None = None) -> bytes:
    """The placed pipeline as a PNG picture, rendered by Graphviz from the DOT emitter's output; raises
    ``RenderError`` if that fails.
    """
    return render(dot.emit(prepared, federation), "png")
