"""The formulations: the problem compiled once, the models built from it, and how a staffed
schedule is valued and reported.

``instance`` (sparse index sets every stage reads), ``portfolio`` (stage 1: which trials
run, when, in which option; labour priced by ``labour_cuts``, coverage rows from
``coverage_cuts``), ``staffing`` (stage 2's model and roster types), ``monolithic`` (the
whole problem as one MIP, for small portfolios), ``objective`` (a staffed schedule's
objective by the documented formula), ``assemble`` (the §3 plan of a staffed schedule)
and ``explain`` (why a trial was left out or is late).
"""
