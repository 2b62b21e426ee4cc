"""Start one of labkit's own modules in a fresh, single-threaded interpreter.

A Jupyter kernel has threads, and a forked child of a threaded process may only exec. So the code
that must fork and then keep working (labkitd, a namespace demo) runs as

    python -I -S -c "import sys; sys.path.insert(0, '<dir above labkit/>'); from <module> import main; main()" ARGS...

-I ignores the environment and the user's site; -S skips site (~10 ms); the path line finds labkit
without either, and the caller's own site-packages (the venv's: pyroute2 for labkitd's networks,
zstandard and isal for its unpacking) at the end of the path, as site would have put them.
"""

from __future__ import annotations

import sys
from pathlib import Path

_PKG_PARENT = str(Path(__file__).resolve().parents[1])


def interpreter(module: str) -> list[str]:
    """The argv prefix that runs `module`'s main() in a fresh interpreter, e.g. interpreter("labkit.runtime.supervisor")."""
    sites = [p for p in sys.path if p.endswith(("site-packages", "dist-packages"))]
    code = (f"import sys; sys.path.insert(0, {_PKG_PARENT!r}); sys.path += {sites!r}; "
            f"from {module} import main; main()")
    return [sys.executable, "-I", "-S", "-c", code]
