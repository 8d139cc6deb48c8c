"""What `pace solve` shows while it runs: a live progress line, and Ctrl+C as 'stop and keep the best plan'.

HiGHS runs under Pyomo's output capture, which redirects file descriptors 1 and 2 for the
duration of each solver call; the line therefore writes to its own duplicate of the
terminal's stderr, taken before any solve starts.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

from models.solver.progress import Progress


class ProgressLine:
    """Incumbent, bound, gap and elapsed time on one line (rewritten in place on a terminal)."""

    def __init__(self) -> None:
        self._out = os.fdopen(os.dup(2), "w", buffering=1)
        self._tty = self._out.isatty()

    def __call__(self, p: Progress) -> None:
        gap = f"{p.gap:7.2%}" if p.gap is not None else "    n/a"
        text = f"{p.elapsed:7.1f} s  {p.activity[:60]:<60} incumbent {_money(p.incumbent)}  bound {_money(p.bound)}  gap {gap}"
        self._out.write(f"\r\x1b[K{text}" if self._tty else f"{text}\n")

    def close(self) -> None:
        if self._tty:
            self._out.write("\n")
        self._out.close()


def _money(v: float | None) -> str:
    return f"{v:>16,.0f}" if v is not None else f"{'-':>16}"


class StopRequest:
    """A stop flag the first Ctrl+C sets; a second Ctrl+C interrupts as usual."""

    def __init__(self) -> None:
        self.requested = False

    def __call__(self) -> bool:
        return self.requested

    @contextmanager
    def on_sigint(self) -> Iterator["StopRequest"]:
        def handler(signum: int, frame: FrameType | None) -> None:
            if self.requested:
                raise KeyboardInterrupt
            self.requested = True

        previous = signal.signal(signal.SIGINT, handler)
        try:
            yield self
        finally:
            signal.signal(signal.SIGINT, previous)
