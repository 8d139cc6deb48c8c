"""The one executor abstraction of the package: where solves run when they run elsewhere.

Many solves at once (:func:`models.solve_many`, :func:`models.tools.batch.solve_many`)
take any ``concurrent.futures.Executor`` (a process pool, :class:`models.tools.batch.LocalPool`)
or a ``distributed.Client``, whose work then runs on a Dask cluster. This module turns
either into an ``Executor``. It knows nothing of the engine, which is why the tools may
import it.
"""

from __future__ import annotations

from concurrent.futures import Executor
from typing import Any, Protocol, TypeAlias


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
