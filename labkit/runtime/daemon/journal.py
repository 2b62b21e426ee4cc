"""labkitd.log, the lab's server log (its stdout and stderr, in the lab's run folder): one line per
event, written by labkitd, its keeper and the output pump alike:

    2026-12-07 10:41:09 labkitd 4242 serving /run/labkit/labkitd.sock
    2026-12-07 10:41:12 keeper 4240 recorded the exit of container web (PID 4301): 0
"""

from __future__ import annotations

import time


def log(msg: str) -> None:
    print(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {msg}", flush=True)
