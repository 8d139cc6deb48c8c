"""The contract: what planners send and get back, and the rules between them.

``problem`` (the input types, SPEC §2, with every rule stated in its docstring), ``plan``
(the output, SPEC §3), ``validation`` (the semantic checks and ``parse_problem``, the
front door for untrusted input) and ``check`` (the independent plan checker, SPEC §4,
written from the rules alone). Nothing here imports the engine.
"""
