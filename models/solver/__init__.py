"""Solver plumbing: how the engine talks to HiGHS and spends its time.

``settings`` (every solver option, time share and tolerance in one place), ``progress``
(what a running solve reports, and how it is asked to stop), ``highs`` (Pyomo's HiGHS
interface with fast row hand-over, callbacks, warm starts and cutoffs) and
``bound_search`` (a copy of a loaded model searched on for a tighter bound on another
thread).
"""
