"""What the `labkit` command is parsed with: argparse, made cheap to start (the CLI's `run` is timed
against runc's, and every import and every phrase looked up counts), and docker's conventions
(exit code 125 for a bad flag, --tail's "all").
"""

from __future__ import annotations

import argparse
import sys


class Skip:
    """Stands in for the parser of a subcommand nobody asked for: building all of them costs ~15 ms
    of argparse and gettext, on every command (`labkit run` is timed against runc)."""

    def add_argument(self, *args, **kw):
        return None

    def add_subparsers(self, *args, **kw):
        return self

    def add_parser(self, *args, **kw):
        return self


class Only:
    def __init__(self, sub, only: str | None):
        self.sub, self.only = sub, only

    def add_parser(self, name: str, **kw):
        return self.sub.add_parser(name, **kw) if self.only in (None, name) else Skip()


# argparse asks gettext for each of its own phrases ("options", "usage: "): a locale import and a search
# for .mo files on every call, ~2 ms per command, for phrases Python ships in English only. labkit's
# texts come from its own catalog.
argparse._ = argparse.ngettext = lambda *words: words[0] if len(words) < 3 or words[2] == 1 else words[1]


class Formatter(argparse.HelpFormatter):
    """The help's width from os (argparse's default imports shutil for it, on every add_argument)."""

    def __init__(self, prog, indent_increment=2, max_help_position=24, width=None):
        if width is None:
            import os

            try:
                width = os.get_terminal_size(2).columns - 2
            except OSError:
                width = 78
        super().__init__(prog, indent_increment, max_help_position, width)


class Parser(argparse.ArgumentParser):
    def __init__(self, *args, **kw):
        kw.setdefault("formatter_class", Formatter)
        super().__init__(*args, **kw)

    def error(self, message):  # docker's exit code for a bad flag or a missing argument is 125, not argparse's 2
        self.print_usage(sys.stderr)
        self.exit(125, f"{self.prog}: error: {message}\nhint: `{self.prog} --help` lists the options.\n")


def lines(text: str) -> int | None:
    """--tail's value, as docker's: a number of lines, or "all"."""
    if text == "all":
        return None
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of lines or \"all\"")
    return int(text)
