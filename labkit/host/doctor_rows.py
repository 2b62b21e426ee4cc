"""A doctor's row and the report of them all (host/doctor.py runs the checks):

    ✔ overlay filesystem   mounted an overlay under /var/lib/labkit
    ✘ iptables (NAT, ports) iptables not found
                           breaks: outbound NAT, published ports and isolation between networks
                           fix:    `apt-get install iptables` (or run `./lab setup`)

as text, as HTML in a notebook, and as JSON (`labkit doctor --json`).
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import asdict, dataclass

from ..catalog import speaker

OK, WARN, FAIL = "ok", "warn", "fail"
_ICON = {OK: "✔", WARN: "!", FAIL: "✘"}
_COLOR = {OK: "#2a2", WARN: "#c80", FAIL: "#c33"}


@dataclass(frozen=True)
class Check:
    name: str
    status: str  # ok, warn, fail
    value: str  # what was found
    breaks: str = ""  # what does not work when this is not ok
    fix: str = ""  # how to make it ok
    id: str = ""  # the row's ID ("root", "cgroups"): its name and texts are the catalog's, in the learner's language


#: a text of the catalog's "doctor" entry, in the learner's language: say("root_uid", uid=1000)
say = speaker("doctor")


def row(row_id: str, status: str, value: str, breaks: str = "", fix: str = "") -> Check:
    """A row named from the catalog (row_<ID>): row("root", OK, say("root_ok"))."""
    return Check(say(f"row_{row_id}"), status, value, breaks, fix, row_id)


@dataclass(frozen=True)
class Report:
    checks: tuple[Check, ...]

    @property
    def ok(self) -> bool:
        return all(c.status != FAIL for c in self.checks)

    def __getitem__(self, name: str) -> Check:
        """A row by its ID ("cgroups") or by its name in the language it was made in."""
        for c in self.checks:
            if name in (c.name, c.id):
                return c
        raise KeyError(name)

    def to_json(self) -> str:
        return json.dumps({"ok": self.ok, "checks": [asdict(c) for c in self.checks]}, indent=2)

    def __str__(self) -> str:
        from ..catalog import columns, pad

        width = max(columns(c.name) for c in self.checks)
        lines = []
        label = max(columns(say("breaks")), columns(say("fix"))) + 1
        for c in self.checks:
            lines.append(f"{_ICON[c.status]} {pad(c.name, width)}  {c.value}")
            if c.status != OK:
                if c.breaks:
                    lines.append(f"  {'':<{width}}  {pad(say('breaks') + ':', label)} {c.breaks}")
                if c.fix:
                    lines.append(f"  {'':<{width}}  {pad(say('fix') + ':', label)} {c.fix}")
        return "\n".join(lines + ["", say("verdict_ok") if self.ok else say("verdict_fail")])

    __repr__ = __str__

    def _repr_html_(self) -> str:
        import html

        rows = []
        for c in self.checks:
            note = ""
            if c.status != OK:
                note = "".join(f"<div><i>{html.escape(say(k))}:</i> {html.escape(v)}</div>"
                               for k, v in (("breaks", c.breaks), ("fix", c.fix)) if v)
            left = "text-align:left;vertical-align:top"
            rows.append(
                f"<tr><td style='color:{_COLOR[c.status]};font-weight:bold;{left}'>{_ICON[c.status]}</td>"
                f"<td style='{left};white-space:nowrap'>{html.escape(c.name)}</td>"
                f"<td style='{left}'><code>{html.escape(c.value)}</code>{note}</td></tr>"
            )
        verdict = say("verdict_ok") if self.ok else say("verdict_fail_html")
        return (f"<table><thead><tr><th></th><th style='text-align:left'>{html.escape(say('col_check'))}</th>"
                f"<th style='text-align:left'>{html.escape(say('col_found'))}</th></tr></thead><tbody>{''.join(rows)}</tbody></table>"
                f"<p><b>{html.escape(verdict)}</b></p>")


def _run(cmd: list[str], timeout: float = 10) -> subprocess.CompletedProcess | None:
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired):
        return None


def _need_root(row_id: str, breaks: str) -> Check:
    return row(row_id, WARN, say("needs_root"), breaks, say("needs_root_fix"))
