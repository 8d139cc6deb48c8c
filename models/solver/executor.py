"""The one executor abstraction of the package: where solves run when they run elsewhere.

Many solves at once (:func:`models.solve_many`, :func:`models.tools.batch.solve_many`)
and the independent sub-problems of one solve (:func:`models.pipeline.run.solve`'s
``executor``) take any ``concurrent.futures.Executor`` (a process pool,
:class:`models.tools.batch.LocalPool`) or a ``distributed.Client``, whose work then runs
on a Dask cluster. This module turns either into an ``Executor``, carries a deadline to
another process (or machine) as a wall-clock moment, and waits on what was handed over
without ever waiting past a deadline: a time limit is a promise, so a sub-solve that
overruns is abandoned, not waited for. It knows nothing of the engine, which is why the
tools may import it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import FIRST_COMPLETED, Executor, Future, wait
from typing import Any, Protocol, TypeAlias

#: How often a wait on an executor asks whether to stop (the engine polls ``stop`` about twice a second).
POLL_SECONDS = 0.5


class HasExecutor(Protocol):
    """A ``distributed.Client``, as far as this package uses one."""

    def get_executor(self, **kwargs: Any) -> Executor: ...


#: What a caller may hand in as an executor.
ExecutorLike: TypeAlias = Executor | HasExecutor


def as_executor(executor: ExecutorLike) -> Executor:
    """An executor as is; a ``distributed.Client`` as its executor (every task distinct, never
    deduplicated: two solves of equal problems are two solves)."""
    if isinstance(executor, Executor):
        return executor
    return executor.get_executor(pure=False)


def wall_moment(moment: float) -> float:
    """A ``time.perf_counter`` moment of this process as a ``time.time`` moment, which another
    process or machine can read (clocks kept in step, as on any cluster)."""
    return time.time() + (moment - time.perf_counter())


def seconds_until(wall: float) -> float:
    """Seconds from now to a ``time.time`` moment (negative once past it): a task that waited
    in an executor's queue starts with only what is left of its time."""
    return wall - time.time()


def submit(executor: Executor, fn: Callable[..., Any], *args: Any) -> Future[Any]:
    """``executor.submit(fn, *args)``, or a future holding the exception if the executor
    refuses (a process pool broken by a lost worker, one shut down): a sub-solve that cannot
    be handed over is one that failed, and the solve goes on without its answer."""
    try:
        return executor.submit(fn, *args)
    except Exception as exc:  # any refusal is that one task's failure, never the solve's
        failed: Future[Any] = Future()
        failed.set_exception(exc)
        return failed


def wait_until(
    futures: Sequence[Future[Any]],
    until: float,
    stopped: Callable[[], bool] = lambda: False,
    on_done: Callable[[Future[Any]], Iterable[Future[Any]]] = lambda _: (),
) -> None:
    """Wait for ``futures`` until the ``time.perf_counter`` moment ``until`` or until
    ``stopped()``, calling ``on_done`` for each as it finishes (in the order they were
    handed over when several finish together); ``on_done`` returns the futures its answer
    makes unneeded, which are no longer waited for. Every future not finished when the wait
    ends, or made unneeded, is cancelled: one still queued never runs, one already running
    is left to end by its own time limit, and nobody waits for it."""
    handled: set[int] = set()
    unneeded: set[int] = set()
    pending = list(futures)
    while True:
        for future in futures:
            if future.done() and id(future) not in handled and id(future) not in unneeded:
                handled.add(id(future))
                if not future.cancelled():
                    unneeded.update(id(f) for f in on_done(future))
        pending = [f for f in pending if not f.done() and id(f) not in unneeded]
        left = until - time.perf_counter()
        if not pending or left <= 0 or stopped():
            break
        wait(pending, timeout=min(left, POLL_SECONDS), return_when=FIRST_COMPLETED)
    for future in futures:
        if not future.done():
            future.cancel()
