"""The `labkit` command as ./lab setup installs it: a launcher that starts in ~8 ms, not pip's ~40.

pip's script imports labkit.cli, and with it the labkit package (the notebook API), argparse,
pathlib and json: ~30 ms before a request leaves, where `runc run` is done in ~25. This one runs
python with -S -I (no site module, no PYTHON* variables) and the quick path first
(runtime/client/quick.py, imported alone, not as part of the package: it uses only the
interpreter's built-in modules);
whatever the quick path does not do, the full CLI does, in the same process, with the checkout and
the venv's packages put on sys.path by the launcher:

    #!/opt/labkit/.venv/bin/python -SI
    sys.path.insert(0, "/opt/labkit/labkit/runtime/client"); import quick; quick.main(argv, paths) -> code or None

    python -m labkit.host.launcher /opt/labkit/.venv/bin/labkit     (./lab setup's write_launcher)
"""

from __future__ import annotations

import os
import sys
import sysconfig
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

TEMPLATE = '''#!{python} -SI
# Written by labkit/host/launcher.py (./lab setup): the quick path first, then the full CLI.
import sys
sys.path.insert(0, {client!r})  # quick.py alone, as a top-level module: its bytecode cached, no package __init__
import quick
del sys.path[0], sys.modules["quick"]
code = quick.main(sys.argv[1:], {paths!r})
if code is not None:
    import posix
    posix._exit(code)  # the quick path wrote with write(2): nothing buffered; no interpreter teardown
from labkit.cli import main
sys.exit(main())
'''


def text(python: str, repo: Path = REPO, site: str | None = None) -> str:
    site = site or sysconfig.get_paths()["purelib"]
    return TEMPLATE.format(python=python, client=str(repo / "labkit/runtime/client"), paths=[str(repo), site])


def write(path, python: str = sys.executable, repo: Path = REPO) -> None:
    """The launcher at `path`, replaced in one rename (a shell running it meanwhile is not hurt)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text(python, repo))
    os.chmod(tmp, 0o755)
    os.replace(tmp, path)


if __name__ == "__main__":
    write(sys.argv[1])
