"""Test-only faults for solve processes, injected without any hook in the product.

A test puts this directory on ``PYTHONPATH`` and names a fault in ``PACE_TEST_FAULT``;
every Python process started from then on (the solve processes the service spawns)
imports this module at start-up and replaces ``models.pipeline.solve`` with the fault:

- ``crash``: the process dies of SIGSEGV, as a crash in native code would;
- ``memory``: it allocates 256 MiB blocks until its address-space limit stops it
  (or 4 GiB, after which it solves normally, so a missing limit fails the test);
- ``hang``: it reports one progress observation (stage ``hang``, so a test knows the
  solve has begun) and then sleeps far beyond any time limit, deaf to any stop request.
"""

import os

_FAULT = os.environ.get("PACE_TEST_FAULT")

if _FAULT:
    import signal
    import time

    import models.pipeline

    _solve = models.pipeline.solve

    def _faulty_solve(*args, **kwargs):
        if _FAULT == "crash":
            os.kill(os.getpid(), signal.SIGSEGV)
        elif _FAULT == "memory":
            hoard = [bytearray(256 * 2**20) for _ in range(16)]
            del hoard
        elif _FAULT == "hang":
            if kwargs.get("progress") is not None:
                from models.solver.progress import Progress

                kwargs["progress"](Progress(0.0, "hang", None, None, None))
            time.sleep(3600)
        return _solve(*args, **kwargs)

    models.pipeline.solve = _faulty_solve
