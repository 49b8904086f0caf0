"""Moves this Python process's wall clock ahead by `CONNECTORS_TEST_CLOCK_SHIFT_DAYS` days.

CI runs the import suites a year ahead to prove that no test depends on the day it runs. With
this folder on `PYTHONPATH`, every Python process of the run (pytest, its xdist workers, the CLI,
workers and agent servers the tests start) moves by the same amount, so they agree on "now".
The clock keeps ticking; monotonic clocks are untouched.
"""

import os

_days = os.environ.get("CONNECTORS_TEST_CLOCK_SHIFT_DAYS")
if _days:
    import time
    from datetime import UTC, datetime, timedelta

    import time_machine

    time_machine.travel(datetime.now(UTC) + timedelta(days=int(_days)), tick=True).start()
    # The moved clock starts ticking when it is first read: read it now, or every process would
    # lag by however long it took to get to its first reading.
    time.time()
