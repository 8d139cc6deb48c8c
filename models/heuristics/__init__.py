"""Heuristics: quick schedules and rosters that are valid plans, or make them.

``constructive`` (the first schedule and the serial plan), ``sgs`` (serial schedule
generation, and the makespan window cut), ``serial_staffing`` (trials placed with people
booked as they go), ``greedy`` and ``lp_roster`` (rosters of a fixed schedule), ``swap``
(blocks moved to cheaper people), ``shed`` (trials left out until the plan keeps every
rule) and ``insertion`` (optional trials put back while they pay).
"""
