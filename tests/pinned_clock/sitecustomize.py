"""A test's subprocess with this folder first on PYTHONPATH starts with its clock pinned (ticking) at
$BUDBRINGER_TEST_CLOCK (ISO 8601, with its offset): the way a test runs the real `budbringer` command on a fixed
day. Only tests put this folder on the path; Budbringer itself never reads the variable.

With $BUDBRINGER_TEST_CLOCK_SCOPE=budbringer only Budbringer's clock is pinned (`budbringer.clock.system_clock`):
for a process that talks to a Prefect server on the real time (a worker's flow run, `approve` resuming a run),
whose own clock must agree with the server's. Otherwise time_machine moves the whole process's clock."""

import os

if os.environ.get("BUDBRINGER_TEST_CLOCK"):
    import datetime as _dt

    _at = _dt.datetime.fromisoformat(os.environ["BUDBRINGER_TEST_CLOCK"])
    if os.environ.get("BUDBRINGER_TEST_CLOCK_SCOPE") == "budbringer":
        import time as _time

        from budbringer import clock as _clock

        _started = _time.monotonic()
        _clock.system_clock = lambda: _at.astimezone(_dt.UTC) + _dt.timedelta(seconds=_time.monotonic() - _started)
    else:
        import time_machine as _time_machine

        _time_machine.travel(_at, tick=True).start()
