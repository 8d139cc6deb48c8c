"""Roster improvement by moving whole blocks to cheaper people.

The greedy roster staffs segments in start order, so people taken early for long blocks
are gone when later, more restricted segments need them, and a dearer person ends up on
a block a cheaper one could now take. This pass revisits every block, dearest first, and
hands it whole to the cheapest eligible person who has the spare FTE in every month of
it and room under their limit of concurrent trials, when the saving beats the
fragmentation price of a new person on the trial (eligible lists are sorted by rate, so
the scan stops at the first such person or at the block's own rate). Pinned blocks are not in the list and
never move. Every rule that concerns people still holds after each move.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from models.formulation.instance import Block, Instance
from models.solver.progress import NEVER, Cutoff


def move_to_cheaper(
    inst: Instance, blocks: list[Block], spare: np.ndarray, row: dict[str, int], tol: float = 1e-9, cutoff: Cutoff = NEVER
) -> list[Block]:
    """``blocks`` with each moved to a cheaper person wherever that pays; ``spare`` (spare
    FTE per person row and month, ``row`` naming each person's row) is kept up to date.
    A stop asked through ``cutoff`` ends the pass between blocks (every move made so far keeps every rule)."""
    on: dict[tuple[str, int], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    pair_blocks: dict[tuple[str, str], int] = defaultdict(int)
    for b in blocks + inst.pinned:
        pair_blocks[(b.staff, b.trial)] += 1
        for m in range(b.first, b.last + 1):
            on[(b.staff, m)][b.trial] += 1
    fragmentation = inst.problem.objective.weights.fragmentation
    blocks = list(blocks)
    rate = {p: inst.rate(p) for p in inst.staff}
    order = sorted(range(len(blocks)), key=lambda i: -rate[blocks[i].staff] * blocks[i].fte * (blocks[i].last - blocks[i].first + 1))
    pools: dict[tuple[str, str], tuple[list[str], np.ndarray, np.ndarray]] = {}
    for i in order:
        if cutoff.stopped():
            break
        b = blocks[i]
        months = range(b.first, b.last + 1)
        if (b.trial, b.role) not in pools:
            people = inst.eligible(b.trial, b.role)
            pools[(b.trial, b.role)] = (people, np.array([row[p] for p in people]), np.array([rate[p] for p in people]))
        people, rows, rates = pools[(b.trial, b.role)]
        own = rate[b.staff]
        cheaper = int(np.searchsorted(rates, own, side="left"))
        if cheaper == 0:
            continue
        room = spare[rows[:cheaper], b.first : b.last + 1].min(axis=1) >= b.fte - tol
        best: str | None = None
        for k in np.flatnonzero(room):
            q = people[k]
            if any(b.trial not in on[(q, m)] and len(on[(q, m)]) >= inst.staff[q].max_concurrent_trials for m in months):
                continue
            saving = (own - rate[q]) * b.fte * len(months)
            pairs = (pair_blocks[(q, b.trial)] == 0) - (pair_blocks[(b.staff, b.trial)] == 1)
            if saving - fragmentation * pairs > tol:
                best = q
                break
        if best is None:
            continue
        q = best
        spare[row[b.staff], b.first : b.last + 1] += b.fte
        spare[row[q], b.first : b.last + 1] -= b.fte
        for m in months:
            _leave(on[(b.staff, m)], b.trial)
            on[(q, m)][b.trial] += 1
        pair_blocks[(b.staff, b.trial)] -= 1
        pair_blocks[(q, b.trial)] += 1
        blocks[i] = Block(q, b.trial, b.role, b.first, b.last, b.fte)
    return blocks


def _leave(trials: dict[str, int], trial: str) -> None:
    trials[trial] -= 1
    if trials[trial] == 0:
        del trials[trial]
