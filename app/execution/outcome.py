"""Why a solve process ended without a result, in words a client can act on.

The process itself cannot always say (a crash or a SIGKILL leaves no chance to write
anything), so the parent reads the exit code: the ones :mod:`app.execution.child` sets
on purpose, or the signal that ended it.
"""

from __future__ import annotations

import signal

from app.execution.child import EXIT_ERROR, EXIT_ORPHANED, EXIT_OUT_OF_MEMORY


def failure_reason(exitcode: int | None, memory_limit_mb: int) -> str:
    """A one-line reason for a solve process that ended with ``exitcode`` and no result."""
    if exitcode == EXIT_OUT_OF_MEMORY:
        return f"the solve ran out of memory (limit {memory_limit_mb} MiB)"
    if exitcode == EXIT_ERROR:
        return "the solve failed with an internal error (details are in the server log)"
    if exitcode == EXIT_ORPHANED:
        return "the solve process lost its server before it started"
    if exitcode is not None and exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = f"signal {-exitcode}"
        if -exitcode == signal.SIGKILL:
            return "the solve process was killed (SIGKILL), most likely for using too much memory"
        return f"the solve process crashed ({name})"
    return f"the solve process ended (exit code {exitcode}) without storing a result"


def retryable(exitcode: int | None) -> bool:
    """Whether a run that ended this way without a result deserves another attempt.

    A process that died (a crash, a kill from outside, a lost server) may well succeed
    next time; one that hit its memory limit or raised inside the solve would only do the
    same again, so its job fails at once.
    """
    return exitcode not in (EXIT_OUT_OF_MEMORY, EXIT_ERROR)
