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
from collections.abc import Callable

import highspy
from highspy.highs import HighsCallbackEvent

from models.settings import EngineSettings

#: How often a wait for the search asks whether the caller wants to stop.
STOP_POLL_SECONDS = 0.5


class BoundSearch:
    """One HiGHS run on a copy of a loaded model, from its incumbent, on a worker thread."""

    def __init__(self, source: highspy.Highs, settings: EngineSettings, seconds: float):
        self.began = time.perf_counter()
        self.until = self.began + seconds
        self._stop = threading.Event()
        self._highs = h = highspy.Highs()
        h.setOptionValue("output_flag", False)
        h.passModel(source.getModel())
        for key, value in settings.highs_options().items():
            h.setOptionValue(key, value)
        h.setOptionValue("mip_rel_gap", 0.0)
        h.setOptionValue("threads", 1)
        h.setOptionValue("time_limit", max(0.1, seconds))
        solution = source.getSolution()
        if solution.value_valid:
            h.setSolution(solution)
        h.cbMipInterrupt.subscribe(self._on_interrupt)
        self._thread = threading.Thread(target=h.run, name="bound-search", daemon=True)
        self._thread.start()

    #: Once the dual bound (solver sense, minimised) reaches this, nothing more is needed.
    target: float = math.inf

    def _on_interrupt(self, event: HighsCallbackEvent) -> None:
        if self._stop.is_set() or event.data_out.mip_dual_bound >= self.target:
            event.interrupt()

    def finish(self) -> tuple[float | None, float]:
        """Stop the search; its dual bound (solver sense, None if it has none) and its HiGHS seconds."""
        self._stop.set()
        self._thread.join()
        bound = self._highs.getInfo().mip_dual_bound
        return (bound if math.isfinite(bound) and abs(bound) < 1e30 else None), self._highs.getRunTime()

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
