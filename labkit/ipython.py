"""In a notebook, a LabkitError shows as its message and hint, not as a traceback.

The output is still an error (red, and nbclient still fails a headless run on it): only the
frames from deep inside labkit are left out, since the hint says what to do.
"""

from __future__ import annotations

import sys


def install() -> None:
    """Register the handler with the running IPython, if there is one; otherwise do nothing."""
    ipython_mod = sys.modules.get("IPython")
    ip = ipython_mod.get_ipython() if ipython_mod is not None else None
    if ip is None:
        return
    from .errors import LabkitError

    def show(shell, etype, evalue, tb, tb_offset=None):
        shell.showtraceback((etype, evalue, tb), exception_only=True)

    ip.set_custom_exc((LabkitError,), show)
    from .exercises import hold_blanks

    if hold_blanks not in ip.input_transformers_post:  # an exercise cell with blanks shows "not yet", runs nothing
        ip.input_transformers_post.append(hold_blanks)
