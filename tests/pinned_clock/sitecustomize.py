"""A test's subprocess with this folder first on PYTHONPATH starts with its clock pinned (time_machine, ticking)
at $BUDBRINGER_TEST_CLOCK (ISO 8601, with its offset): the way a test runs the real `budbringer` command on a
fixed day. Only tests put this folder on the path; Budbringer itself never reads the variable."""

import os

if os.environ.get("BUDBRINGER_TEST_CLOCK"):
    import datetime as _dt

    import time_machine as _time_machine

    _time_machine.travel(_dt.datetime.fromisoformat(os.environ["BUDBRINGER_TEST_CLOCK"]), tick=True).start()
