"""Progress of slow steps for command-line tools: a spinner on a terminal, plain lines otherwise.

``Steps`` is what ``dfm poc start``, ``dfm fed gen provision`` and a FLARE
session's start and stop report to; a library caller passes none and sees
nothing. Calling it with a message starts a step (or updates the current one);
on a terminal one line is redrawn with a spinner and the seconds spent on the
step, elsewhere (CI logs, pipes) every new message is one plain line.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import IO, Any

__all__ = ["Steps"]

_FRAMES = "|/-\\"


class Steps:
    """Report slow steps to ``stream`` (stderr): ``steps("waiting for site-1")``; ``steps.close()``."""

    def __init__(self, stream: IO[str] | None = None, *, tty: bool | None = None, prefix: str = ""):
        self.stream = stream if stream is not None else sys.stderr
        if tty is None:
            try:
                tty = self.stream.isatty()
            except (AttributeError, ValueError):
                tty = False
        self.tty = bool(tty)
        self.prefix = prefix
        self._message = ""
        self._since = time.monotonic()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __call__(self, message: str) -> None:
        """Start a step with ``message``, or show it as the current step's new text."""
        with self._lock:
            if message == self._message:
                return
            self._message = message
            self._since = time.monotonic()
            if not self.tty:
                self._write(f"{self.prefix}{message}\n")
                return
            self._draw(0)
            if self._thread is None:
                self._stop.clear()
                self._thread = threading.Thread(target=self._spin, name="dfm-steps", daemon=True)
                self._thread.start()

    def _write(self, text: str) -> None:
        try:
            self.stream.write(text)
            self.stream.flush()
        except (OSError, ValueError):  # closed under us
            pass

    def _draw(self, frame: int) -> None:
        elapsed = time.monotonic() - self._since
        self._write(f"\r\033[K{_FRAMES[frame % len(_FRAMES)]} {self.prefix}{self._message} ({elapsed:.0f} s)")

    def _spin(self) -> None:
        frame = 0
        while not self._stop.wait(0.2):
            frame += 1
            with self._lock:
                if self._message:
                    self._draw(frame)

    def close(self) -> None:
        """End the current step (the spinner line is cleared)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(1.0)
            self._thread = None
        if self.tty and self._message:
            self._write("\r\033[K")
        self._message = ""

    def __enter__(self) -> Steps:
        return self

    def __exit__(self, *_: Any) -> None:
        self.close()
