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


_PARSERS: dict = {}  # one per language, built once per labkitd (~0.3 ms each time otherwise)


def parse(argv, lang: str = "en") -> tuple[object | None, dict | None]:
    """`lang`: the client's ("zh" from its LANG): argparse's usage and errors in its words."""
    from ...catalog import speaking, text

    with speaking(lang):
        if lang not in _PARSERS:
            from ...cli_parser import parser

            _PARSERS[lang] = parser("run")
        if not isinstance(argv, list) or not argv or argv[0] != "run" or not all(isinstance(a, str) for a in argv):
            return None, {"stdout": "", "stderr": f"labkit: {text('error.runtime.bad-request', 'run_only')}\n", "exit_code": 125}
        out, err = io.StringIO(), io.StringIO()
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                return _PARSERS[lang].parse_args(argv), None
        except SystemExit as e:
            return None, {"stdout": out.getvalue(), "stderr": err.getvalue(), "exit_code": e.code if isinstance(e.code, int) else 125}


def needs_full_client(args) -> bool:
    """A terminal or stdin to relay, or a trace table to print: the full CLI does those."""
    return bool(args.tty or args.interactive or args.trace)
