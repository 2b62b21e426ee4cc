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


@dataclass(frozen=True)
class Report:
    checks: tuple[Check, ...]

    @property
    def ok(self) -> bool:
        return all(c.status != FAIL for c in self.checks)

    def __getitem__(self, name: str) -> Check:
        for c in self.checks:
            if c.name == name:
                return c
        raise KeyError(name)

    def to_json(self) -> str:
        return json.dumps({"ok": self.ok, "checks": [asdict(c) for c in self.checks]}, indent=2)

    def __str__(self) -> str:
        width = max(len(c.name) for c in self.checks)
        lines = []
        for c in self.checks:
            lines.append(f"{_ICON[c.status]} {c.name:<{width}}  {c.value}")
            if c.status != OK:
                if c.breaks:
                    lines.append(f"  {'':<{width}}  breaks: {c.breaks}")
                if c.fix:
                    lines.append(f"  {'':<{width}}  fix:    {c.fix}")
        verdict = "this host can run the lab" if self.ok else "this host cannot run all of the lab: see the rows marked ✘"
        return "\n".join(lines + ["", verdict])

    __repr__ = __str__

    def _repr_html_(self) -> str:
        import html

        rows = []
        for c in self.checks:
            note = ""
            if c.status != OK:
                note = "".join(f"<div><i>{k}:</i> {html.escape(v)}</div>" for k, v in (("breaks", c.breaks), ("fix", c.fix)) if v)
            left = "text-align:left;vertical-align:top"
            rows.append(
                f"<tr><td style='color:{_COLOR[c.status]};font-weight:bold;{left}'>{_ICON[c.status]}</td>"
                f"<td style='{left};white-space:nowrap'>{html.escape(c.name)}</td>"
                f"<td style='{left}'><code>{html.escape(c.value)}</code>{note}</td></tr>"
            )
        verdict = "this host can run the lab" if self.ok else "some rows failed: the lab cannot run all of its cells here"
        return (f"<table><thead><tr><th></th><th style='text-align:left'>check</th>"
                f"<th style='text-align:left'>found</th></tr></thead><tbody>{''.join(rows)}</tbody></table>"
                f"<p><b>{verdict}</b></p>")


def _run(cmd: list[str], timeout: float = 10) -> subprocess.CompletedProcess | None:
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired):
        return None


def _need_root(name: str, breaks: str) -> Check:
    return Check(name, WARN, "not checked: needs root", breaks, "run `sudo labkit doctor`")
