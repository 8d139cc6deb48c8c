"""A constructive staffing heuristic: named people in large contiguous blocks, fast at any size.

Segments (a trial's demand for one role over a run of months at one FTE level) are
staffed in order of start month, the most restricted (fewest eligible people) first,
in two passes: people in their primary role, then anyone's remaining time in the roles
they also hold.
Each step scores every eligible person by the block they can take, in FTE-months
(more for people already on the trial, fewer people per trial being what a planner
wants, and less for a secondary role), and gives the block to the cheapest person whose
score is at least half the best, so the pool is used cheapest first, as the portfolio
stage assumes, without cutting it into slivers. Months a person
cannot work (leave, outside their window, no spare FTE, or already at their limit of
concurrent trials) are skipped and filled by the next person. What blocks leave is then
filled month by month from anyone eligible with spare FTE (people already on the trial
first); what people cannot cover goes to flex within its monthly limit, and the rest is
shortfall.

Finally every block moves to a cheaper person where one can take it whole
(:mod:`models.heuristics.swap`), and the time that frees fills what is still uncovered. Where a
month's uncovered demand of a role is more than its flex can take, people eligible for
it leave work others or another role's flex can do (:meth:`_Roster.relieve`). Every rule
of §2 that concerns people holds by construction, so the result is always a valid
staffing of the given schedule apart from shortfall, which the pipeline repairs.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from models.formulation.instance import Block, Instance
from models.formulation.staffing import Segment, StaffingResult, buy_flex, merge_blocks, net_demand, segments
from models.heuristics.swap import move_to_cheaper
from models.solver.progress import NEVER, Cutoff

#: Score multipliers that shape the roster the way a planner would.
SAME_TRIAL_BONUS = 1.5
SECONDARY_ROLE_FACTOR = 0.7
#: Among people whose block is at least this share of the largest possible block, the
#: cheapest is chosen: cost matters, but not at the price of slivers of FTE.
GOOD_ENOUGH_SHARE = 0.5


def greedy_staffing(
    inst: Instance,
    schedule: dict[str, tuple[str, int]],
    tol: float = 1e-9,
    good_enough: float = GOOD_ENOUGH_SHARE,
    cutoff: Cutoff = NEVER,
) -> StaffingResult:
    """A roster of ``schedule``; a smaller ``good_enough`` share settles for smaller blocks of cheaper people.

    A stop asked through ``cutoff`` ends it between segments (months, in the relief pass)
    with what is left uncovered as shortfall: an incomplete roster the caller drops (its
    moment alone does not end a roster, see :class:`models.solver.progress.Cutoff`)."""
    roster = _Roster(inst, schedule, tol, good_enough)
    # People first serve their primary role everywhere; only then does what is left of
    # anyone's time go to the roles they also hold, as the portfolio stage's groups assume.
    for primary_only in (True, False):
        for seg in roster.segments:
            if cutoff.stopped():
                return roster.result()
            roster.staff_segment(seg, primary_only)
    roster.move_to_cheaper(cutoff)
    for seg in roster.segments:
        if cutoff.stopped():
            return roster.result()
        roster.fill(seg)
    roster.relieve(cutoff)
    return roster.result()


class _Roster:
    """The state of a roster under construction: spare FTE, trials per person-month, blocks.

    Spare FTE and the number of trials each person works on per month are arrays
    (person x month), so scoring a whole pool for a segment is a few array operations;
    ``spare`` also maps each person to their row, for code that works person by person.
    """

    def __init__(self, inst: Instance, schedule: dict[str, tuple[str, int]], tol: float, good_enough: float):
        self.inst = inst
        self.tol = tol
        self.good_enough = good_enough
        net = net_demand(inst, schedule)
        self.residual = dict(net.demand)
        self.people = list(inst.staff)
        self.row = {p: i for i, p in enumerate(self.people)}
        self.spare_fte = np.array(
            [
                [(inst.staff[p].fte - net.pinned_fte.get((p, m), 0.0)) if inst.available[p][m] else 0.0 for m in range(inst.months)]
                for p in self.people
            ],
            dtype=float,
        ).reshape(len(self.people), inst.months)
        self.spare: dict[str, np.ndarray] = {p: self.spare_fte[i] for i, p in enumerate(self.people)}
        self.max_trials = np.array([inst.staff[p].max_concurrent_trials for p in self.people])
        self.trial_count = np.zeros((len(self.people), inst.months), dtype=int)
        self.working_on: dict[tuple[str, int], set[str]] = defaultdict(set)
        #: Per trial, per person row on it: the months they work on it (so whether they may
        #: join it in a month, at their limit of concurrent trials, is one array test).
        self.on_months: dict[str, dict[int, np.ndarray]] = defaultdict(dict)
        self.pinned_trials = net.pinned_trials
        for (p, m), trials in net.pinned_trials.items():
            self.working_on[(p, m)] |= trials
            self.trial_count[self.row[p], m] = len(self.working_on[(p, m)])
            for t in trials:
                self._months_on(t, self.row[p])[m] = True
        self.segments = segments(net.demand)
        self.segments.sort(key=lambda s: (s.first, len(inst.eligible(s.trial, s.role)), -s.fte))
        self.blocks: list[Block] = []
        #: Rows of the people on each trial.
        self.on_rows: dict[str, set[int]] = defaultdict(set)
        for b in inst.pinned:
            self.on_rows[b.trial].add(self.row[b.staff])
        self.primary = np.array([inst.staff[p].role for p in self.people])
        # People who hold several roles are used last: they are what covers the scarce roles.
        self.kept_for_later = np.array([len(inst.staff_roles[p]) > 1 for p in self.people], dtype=bool)
        self.rates = np.array([inst.rate(p) for p in self.people])
        self._pools: dict[tuple[str, str, bool], np.ndarray] = {}

    def _pool(self, trial: str, role: str, primary_only: bool) -> np.ndarray:
        """Rows of everyone who may take the role on the trial (in their primary role only, if
        asked), cheapest first and those kept for later last; computed once per roster."""
        key = (trial, role, primary_only)
        rows = self._pools.get(key)
        if rows is None:
            rows = np.array([self.row[p] for p in self.inst.eligible(trial, role)], dtype=int)
            if primary_only and rows.size:
                rows = rows[self.primary[rows] == role]
            rows = self._pools[key] = rows[np.argsort(self.kept_for_later[rows], kind="stable")]
        return rows

    def _months_on(self, trial: str, row: int) -> np.ndarray:
        months = self.on_months[trial].get(row)
        if months is None:
            months = self.on_months[trial][row] = np.zeros(self.inst.months, dtype=bool)
        return months

    def _can_join(self, person: str, trial: str, month: int) -> bool:
        busy = self.working_on[(person, month)]
        return trial in busy or len(busy) < self.inst.staff[person].max_concurrent_trials

    def _give(self, person: str, trial: str, role: str, months: list[int], fte: float) -> None:
        i = self.row[person]
        self._months_on(trial, i)[months] = True
        for m in months:
            self.spare_fte[i, m] -= fte
            self.residual[(trial, role, m)] -= fte
            busy = self.working_on[(person, m)]
            if trial not in busy:
                busy.add(trial)
                self.trial_count[i, m] += 1
        self.on_rows[trial].add(i)
        self.blocks.extend(_runs(person, trial, role, months, fte))

    def staff_segment(self, seg: Segment, primary_only: bool) -> None:
        """Blocks first, then a month-by-month fill of what they leave.

        People are scanned cheapest first (those kept for later last): the first whose
        block reaches the good-enough share of the largest block anyone could take is
        chosen; if nobody does, the cheapest whose block is at least half the best.
        """
        t, r = seg.trial, seg.role
        rows = self._pool(t, r, primary_only)
        if rows.size:
            factor = np.where(self.primary[rows] == r, 1.0, SECONDARY_ROLE_FACTOR)
            on = np.flatnonzero(np.isin(rows, list(self.on_rows[t]))).tolist() if self.on_rows[t] else []
            factor[on] *= SAME_TRIAL_BONUS
            keep = self.kept_for_later[rows]
            rate = self.rates[rows]
            while self._place_block(seg, rows, factor, on, keep, rate):
                pass
        self.fill(seg, primary_only)

    def _place_block(
        self,
        seg: Segment,
        rows: np.ndarray,
        factor: np.ndarray,
        on: list[int],
        keep: np.ndarray,
        rate: np.ndarray,
    ) -> bool:
        """Give one block of the segment to the chosen person; False when nothing is left or nobody can take any."""
        tol, t, r = self.tol, seg.trial, seg.role
        need = [m for m in range(seg.first, seg.last + 1) if self.residual[(t, r, m)] > tol]
        if not need:
            return False
        residual = np.array([self.residual[(t, r, m)] for m in need])
        free = self.spare_fte[np.ix_(rows, need)]
        usable = (free > tol) & (self.trial_count[np.ix_(rows, need)] < self.max_trials[rows, None])
        if on:
            # People already on the trial may stay on it in months they are at their limit.
            months_on = self.on_months[t]
            member = np.array([months_on[i][need] if i in months_on else np.zeros(len(need), dtype=bool) for i in rows[on]])
            usable[on] |= (free[on] > tol) & member
        months_usable = usable.sum(axis=1)
        candidates = np.flatnonzero(months_usable > 0)
        amount = np.where(usable, np.minimum(free, residual[None, :]), np.inf).min(axis=1)
        amount[months_usable == 0] = 0.0
        score = amount * months_usable * factor
        if candidates.size == 0:
            return False
        ceiling = self.good_enough * SAME_TRIAL_BONUS * float(residual.max()) * len(need)
        reaching = candidates[score[candidates] >= ceiling]
        if reaching.size:
            k = int(reaching[0])
        else:
            good = candidates[score[candidates] >= self.good_enough * score[candidates].max()]
            # The pool is ordered by (kept for later, rate, id): the first good candidate has
            # the least (kept, rate); among its equals the best score wins, then the id.
            first = good[0]
            same = good[(keep[good] == keep[first]) & (rate[good] == rate[first])]
            k = int(same[np.argmax(score[same])])
        if rows[k] not in self.on_rows[t]:
            factor[k] *= SAME_TRIAL_BONUS
            on.append(k)
        self._give(self.people[rows[k]], t, r, [m for m, ok in zip(need, usable[k]) if ok], float(amount[k]))
        return True

    def fill(self, seg: Segment, primary_only: bool = False) -> None:
        """Month by month, what blocks left of a segment from anyone eligible with spare FTE."""
        tol = self.tol
        t, r = seg.trial, seg.role
        months = range(seg.first, seg.last + 1)
        if all(self.residual[(t, r, m)] <= tol for m in months):
            return
        # People already on the trial first, then as the pool is ordered (kept, rate, id).
        rows = self._pool(t, r, primary_only)
        on = self.on_rows[t]
        by_preference = [self.people[i] for i in rows if i in on] + [self.people[i] for i in rows if i not in on]
        for m in months:
            for p in by_preference:
                left = self.residual[(t, r, m)]
                if left <= tol:
                    break
                if self.spare[p][m] > tol and self._can_join(p, t, m):
                    self._give(p, t, r, [m], min(self.spare[p][m], left))

    def move_to_cheaper(self, cutoff: Cutoff = NEVER) -> None:
        """Hand blocks to cheaper people who can now take them whole (see :mod:`models.heuristics.swap`)."""
        self.blocks = move_to_cheaper(self.inst, self.blocks, self.spare_fte, self.row, self.tol, cutoff)
        self.working_on = defaultdict(set)
        self.on_rows = defaultdict(set)
        self.on_months = defaultdict(dict)
        for b in self.blocks + self.inst.pinned:
            self.on_rows[b.trial].add(self.row[b.staff])
            self._months_on(b.trial, self.row[b.staff])[b.first : b.last + 1] = True
            for m in range(b.first, b.last + 1):
                self.working_on[(b.staff, m)].add(b.trial)
        self.trial_count[:] = 0
        for (p, m), trials in self.working_on.items():
            self.trial_count[self.row[p], m] = len(trials)

    def relieve(self, cutoff: Cutoff = NEVER) -> None:
        """Demand beyond what flex can take, moved onto time that frees elsewhere, month by month.

        The passes fill segments one at a time, so people who hold several roles may be
        spent on work flex could have done (a CRA who also does site start-up covering a
        CRA trial while CRA flex has room and SSU flex is used up), or a person at their
        limit of concurrent trials keeps spare FTE no trial of theirs needs. In each month
        where some role's uncovered demand exceeds its flex, a person eligible for a short
        trial leaves part (or, to free a slot, all) of one of their trials for it; what they
        leave is taken by others with spare FTE or left to that role's flex. A move is made
        only if it lowers the month's demand beyond flex, summed over roles (see
        :meth:`_beyond_flex`), so the pass ends. The moved months become blocks of their own.
        """
        self.keys_in: dict[int, list[tuple[str, str, int]]] = defaultdict(list)
        for key in self.residual:
            self.keys_in[key[2]].append(key)
        months = [m for m in sorted(self.keys_in) if self._beyond_flex(self._role_residual(m)) > self.tol]
        if not months:
            return
        self.blocks_of: dict[str, list[int]] = defaultdict(list)
        for i, b in enumerate(self.blocks):
            self.blocks_of[b.staff].append(i)
        for m in months:
            while not cutoff.stopped() and self._relieve_month(m):
                pass

    def _role_residual(self, m: int) -> dict[str, float]:
        totals: dict[str, float] = defaultdict(float)
        for key in self.keys_in[m]:
            left = self.residual[key]
            if left > self.tol:
                totals[key[1]] += left
        return totals

    def _beyond_flex(self, totals: dict[str, float]) -> float:
        """Uncovered demand no flex can take: sum_r max(0, residual_r - flexmax_r)."""
        return sum(max(0.0, v - self.inst.flex_max.get(r, 0.0)) for r, v in totals.items())

    def _loads(self, person: str, m: int) -> dict[tuple[str, str], float]:
        """What a person works on in a month: FTE per (trial, role), from their blocks."""
        loads: dict[tuple[str, str], float] = defaultdict(float)
        for i in self.blocks_of.get(person, []):
            b = self.blocks[i]
            if b.fte > 0 and b.first <= m <= b.last:
                loads[(b.trial, b.role)] += b.fte
        return loads

    def _refill(self, trial: str, role: str, m: int, leaving: str, amount: float) -> list[tuple[str, float]]:
        """Who takes over up to ``amount`` of (trial, role) in month ``m``: others eligible with spare FTE."""
        takers: list[tuple[str, float]] = []
        for q in self.inst.eligible(trial, role):
            if amount <= self.tol:
                break
            if q == leaving or self.spare[q][m] <= self.tol or not self._can_join(q, trial, m):
                continue
            share = min(self.spare[q][m], amount)
            takers.append((q, share))
            amount -= share
        return takers

    def _relieve_month(self, m: int) -> bool:
        """Make the first move (short trials in key order, people cheapest first) that lowers
        month ``m``'s demand beyond flex; False if none does."""
        tol, inst = self.tol, self.inst
        totals = self._role_residual(m)
        before = self._beyond_flex(totals)
        if before <= tol:
            return False
        short = {r for r, v in totals.items() if v > inst.flex_max.get(r, 0.0) + tol}
        for t, r, _ in self.keys_in[m]:
            res = self.residual[(t, r, m)]
            if r not in short or res <= tol:
                continue
            for p in inst.eligible(t, r):
                if not inst.available[p][m]:
                    continue
                spare = max(0.0, float(self.spare[p][m]))
                joinable = self._can_join(p, t, m)
                loads = self._loads(p, m)
                for (t2, r2), load in loads.items():
                    if t2 == t:
                        continue
                    # Leaving frees a slot only if this is all the person does on that trial then.
                    alone = sum(1 for (tt, _) in loads if tt == t2) == 1 and t2 not in self.pinned_trials.get((p, m), ())
                    if joinable:
                        out = min(load, max(0.0, res - spare))
                    elif alone:
                        out = load  # leave that trial this month: it frees a slot
                    else:
                        continue
                    takers = self._refill(t2, r2, m, p, out)
                    taken = sum(v for _, v in takers)
                    moved_in = min(res, spare + out)
                    after = dict(totals)
                    after[r2] = after.get(r2, 0.0) + out - taken
                    after[r] = after[r] - moved_in
                    if before - self._beyond_flex(after) > tol:
                        self._take_back(p, t2, r2, m, out)
                        for q, share in takers:
                            self._give_indexed(q, t2, r2, m, share)
                        self._give_indexed(p, t, r, m, moved_in)
                        return True
        return False

    def _give_indexed(self, person: str, trial: str, role: str, m: int, fte: float) -> None:
        start = len(self.blocks)
        self._give(person, trial, role, [m], fte)
        self.blocks_of[person].extend(range(start, len(self.blocks)))

    def _take_back(self, person: str, trial: str, role: str, m: int, fte: float) -> None:
        """Take ``fte`` of a person's work on (trial, role) out of month ``m``, splitting their blocks there."""
        i_row = self.row[person]
        left = fte
        for i in list(self.blocks_of[person]):
            b = self.blocks[i]
            if left <= self.tol:
                break
            if (b.trial, b.role) != (trial, role) or not b.first <= m <= b.last or b.fte <= 0:
                continue
            cut = min(b.fte, left)
            left -= cut
            parts = [Block(person, trial, role, b.first, m - 1, b.fte), Block(person, trial, role, m + 1, b.last, b.fte)]
            if b.fte - cut > self.tol:
                parts.append(Block(person, trial, role, m, m, b.fte - cut))
            kept = [x for x in parts if x.first <= x.last]
            self.blocks[i] = Block(person, trial, role, b.first, b.last, 0.0)  # emptied; dropped in result()
            start = len(self.blocks)
            self.blocks.extend(kept)
            self.blocks_of[person].extend(range(start, len(self.blocks)))
        taken = fte - left
        self.spare_fte[i_row, m] += taken
        self.residual[(trial, role, m)] += taken
        if not any(tt == trial for (tt, _) in self._loads(person, m)) and trial not in self.pinned_trials.get((person, m), ()):
            self.working_on[(person, m)].discard(trial)
            self.trial_count[i_row, m] -= 1
            self._months_on(trial, i_row)[m] = False

    def result(self) -> StaffingResult:
        """Flex for what people could not cover, within each role's monthly limit; the rest is shortfall."""
        inst, tol = self.inst, self.tol
        flex, shortfall = buy_flex(inst, self.residual, tol)
        blocks = [b for b in self.blocks if b.fte > tol]
        return StaffingResult(outcome=None, blocks=merge_blocks(blocks + inst.pinned), flex=flex, shortfall=shortfall)


def _runs(person: str, trial: str, role: str, months: list[int], fte: float) -> list[Block]:
    """Consecutive months as blocks (a person's block breaks around leave)."""
    out: list[Block] = []
    first = prev = months[0]
    for m in months[1:]:
        if m != prev + 1:
            out.append(Block(person, trial, role, first, prev, fte))
            first = m
        prev = m
    out.append(Block(person, trial, role, first, prev, fte))
    return out
