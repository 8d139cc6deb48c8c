"""Round 0's model searched on for a tighter bound, on the machine's other core.

Round 0 stops once its own gap is within the target; its bound then bounds every plan,
but loosely: on the reference, the bound after round 0 (1 % gap) is 2.278e9 while the
model's optimum is 2.262e9. Proving more takes branching, tens of seconds of it, and the
staffing and repair work after round 0 runs mostly in Python on one core. So a copy of
round 0's model, as HiGHS holds it when round 0 ends, is solved on with no gap target
in a thread of its own (HiGHS releases the GIL while it searches) until the engine asks
for its bound. Any bound it proves is valid: the copy is round 0's relaxation of the
whole problem, whatever the repair rounds change in their own model afterwards.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Sequence

import highspy
import numpy as np
from highspy.highs import HighsCallbackEvent

from models.solver.settings import EngineSettings

#: How often a wait for the search asks whether the caller wants to stop.
STOP_POLL_SECONDS = 0.5


#: A refinement: given the copy's solution (column values), rows ``lower <= sum vals * cols``
#: that cut it off while staying valid for every plan (no rows: nothing more to cut).
Refine = Callable[[Sequence[float]], list[tuple[np.ndarray, np.ndarray, float]]]


class BoundSearch:
    """HiGHS runs on a copy of a loaded model, from its incumbent, on a worker thread.

    With ``refine``, each time a run proves its optimum with time left, the copy is cut at
    that optimum (the first time also at the incumbent it started from) and solved again.
    The first run thus proves the copy's own optimum as fast as it can; rows that only
    underprice what a plan costs keep the copy a relaxation, so every run's bound is valid
    and the tightest is kept. (The engine's refinement prices labour over named people,
    which round 0's model only does over capacity groups.)"""

    def __init__(
        self, source: highspy.Highs, settings: EngineSettings, seconds: float, refine: Refine | None = None, nodes: int | None = None
    ):
        self.began = time.perf_counter()
        self.until = self.began + seconds
        self._stop = threading.Event()
        self._refine = refine
        self._bound = -math.inf
        #: The tightest dual bound the current run has reported so far (valid as it stands).
        self._live = -math.inf
        self._seconds = 0.0
        #: How many runs ended with their optimum proven.
        self.proven = 0
        #: Branch-and-bound nodes over every run; whether the clock ended one.
        self.nodes = 0
        self.time_limited = False
        self._highs = h = highspy.Highs()
        h.setOptionValue("output_flag", False)
        h.passModel(source.getModel())
        for key, value in settings.highs_options().items():
            h.setOptionValue(key, value)
        h.setOptionValue("mip_rel_gap", 0.0)
        h.setOptionValue("threads", 1)
        if nodes is not None:
            h.setOptionValue("mip_max_nodes", nodes)
        solution = source.getSolution()
        self._start = list(solution.col_value) if solution.value_valid else None
        h.cbMipInterrupt.subscribe(self._on_interrupt)
        # A stop must also end a long LP (the root node's, or a node's after cuts): a MIP
        # interrupt is only offered between nodes, and finish() waits for the run to end.
        h.cbSimplexInterrupt.subscribe(self._on_simplex_interrupt)
        self._thread = threading.Thread(target=self._search, name="bound-search", daemon=True)
        self._thread.start()

    #: Once the dual bound (solver sense, minimised) reaches this, nothing more is needed.
    target: float = math.inf

    def _on_interrupt(self, event: HighsCallbackEvent) -> None:
        # A running MIP's dual bound is valid already: the engine may read it (and stop
        # waiting) before the run ends. The target counts against the tightest bound of
        # every run: a run after the first starts from its own (looser) LP bound.
        dual = event.data_out.mip_dual_bound
        if math.isfinite(dual) and abs(dual) < 1e30 and dual > self._live:
            self._live = dual
        if self._stop.is_set() or max(self._bound, self._live) >= self.target:
            event.interrupt()

    def _on_simplex_interrupt(self, event: HighsCallbackEvent) -> None:
        if self._stop.is_set():
            event.interrupt()

    def _search(self) -> None:
        """Run; while a run proves its optimum with time left, cut at that optimum (the first
        time also at the incumbent the copy started from) and run again."""
        h = self._highs
        start = self._start
        cut_at: list[list[float]] = []
        while not self._stop.is_set():
            if cut_at:
                rows = [row for point in cut_at for row in self._refined(point)]
                for cols, vals, lower in rows:
                    h.addRow(lower, highspy.kHighsInf, len(cols), cols, vals)
                if not rows:
                    return  # the last optimum is priced exactly: nothing left to prove
            left = self.until - time.perf_counter()
            if left <= 0:
                return
            if start is not None:
                h.setSolution(len(start), np.arange(len(start), dtype=np.int32), np.array(start, dtype=np.float64))
            h.setOptionValue("time_limit", max(0.1, left))
            began = time.perf_counter()
            h.run()
            self._seconds += time.perf_counter() - began
            self.nodes += max(0, h.getInfo().mip_node_count)
            self.time_limited = self.time_limited or h.getModelStatus() == highspy.HighsModelStatus.kTimeLimit
            bound = h.getInfo().mip_dual_bound
            if math.isfinite(bound) and abs(bound) < 1e30:
                self._bound = max(self._bound, bound)
            if h.getModelStatus() != highspy.HighsModelStatus.kOptimal or self._refine is None or self._bound >= self.target:
                return
            self.proven += 1
            optimum = list(h.getSolution().col_value)
            cut_at = [optimum] + ([start] if self.proven == 1 and start is not None else [])
            start = optimum

    @property
    def bound(self) -> float | None:
        """The tightest dual bound proven so far, by a run that ended or one still running
        (solver sense), None before there is one."""
        bound = max(self._bound, self._live)
        return bound if math.isfinite(bound) else None

    def _refined(self, start: list[float]) -> list[tuple[np.ndarray, np.ndarray, float]]:
        """The refinement's rows, worked out on a thread of its own: its LPs would otherwise
        start this thread's HiGHS scheduler with every core, and HiGHS then refuses this
        thread's one-thread MIP runs (the scheduler is per thread and set up once)."""
        assert self._refine is not None
        out: list[list[tuple[np.ndarray, np.ndarray, float]]] = []
        worker = threading.Thread(target=lambda: out.append(self._refine(start)), name="bound-refine", daemon=True)  # type: ignore[misc]
        worker.start()
        worker.join()
        return out[0] if out else []

    def finish(self) -> tuple[float | None, float]:
        """Stop the search; its tightest dual bound (solver sense, None if it has none) and its HiGHS seconds."""
        self._stop.set()
        self._thread.join()
        return self.bound, self._seconds

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def wait(self, until: float, stopped: Callable[[], bool]) -> None:
        """Let the search go on until ``until`` (``time.perf_counter``), until it ends by itself,
        or until ``stopped()`` (asked on the calling thread, twice a second)."""
        while self._thread.is_alive() and not stopped():
            left = until - time.perf_counter()
            if left <= 0:
                return
            self._thread.join(timeout=min(left, STOP_POLL_SECONDS))
