"""`labkit run`'s command line, parsed in labkitd for the quick client (runtime/client/quick.py).

The quick client is the `labkit` command's first few milliseconds: it imports nothing of labkit's,
so it cannot parse or check what it was given. labkitd can, with the very parser and checks the
full CLI uses (cli_parser.py, options.py), already loaded. What argparse would print (usage, an error,
--help) comes back as text with its exit code, for the client to print:

    ["run", "--rm", "busybox", "true"]   -> the namespace argparse makes, and None
    ["run", "--memory"]                  -> None, {"stdout": "", "stderr": "usage: ...error: ...", "exit_code": 125}
"""

from __future__ import annotations

import contextlib
import io


_PARSER = None  # built once per labkitd (~0.3 ms each time otherwise); argparse copies its defaults per parse


def parse(argv) -> tuple[object | None, dict | None]:
    global _PARSER
    if _PARSER is None:
        from ...cli_parser import parser

        _PARSER = parser("run")
    if not isinstance(argv, list) or not argv or argv[0] != "run" or not all(isinstance(a, str) for a in argv):
        return None, {"stdout": "", "stderr": "labkit: the quick client sends `run` only\n", "exit_code": 125}
    out, err = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            return _PARSER.parse_args(argv), None
    except SystemExit as e:
        return None, {"stdout": out.getvalue(), "stderr": err.getvalue(), "exit_code": e.code if isinstance(e.code, int) else 125}


def needs_full_client(args) -> bool:
    """A terminal or stdin to relay, or a trace table to print: the full CLI does those."""
    return bool(args.tty or args.interactive or args.trace)
