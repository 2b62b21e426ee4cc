"""The mount table, as the kernel tells it in /proc/PID/mountinfo.

One line per mount, e.g.

    412 29 0:63 / /var/lib/labkit/demo/merged rw,relatime - overlay labkit rw,lowerdir=...

Fields: mount ID, parent ID, major:minor, root within the filesystem, mount point,
mount options, optional tags, then after " - ": filesystem type, source, super options.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Mount:
    root: str
    mountpoint: str
    fstype: str
    source: str
    superopts: str


def _unescape(field: str) -> str:
    # mountinfo escapes space, tab, newline and backslash as \040 \011 \012 \134.
    return field.replace("\\040", " ").replace("\\011", "\t").replace("\\012", "\n").replace("\\134", "\\")


def parse_mountinfo(text: str) -> list[Mount]:
    out = []
    for line in text.splitlines():
        left, sep, right = line.partition(" - ")
        if not sep:
            continue
        fields, rfields = left.split(), right.split()
        if len(fields) < 5 or len(rfields) < 3:
            continue
        out.append(Mount(_unescape(fields[3]), _unescape(fields[4]), rfields[0], _unescape(rfields[1]), rfields[2]))
    return out


def mounts(pid: int | str = "self") -> list[Mount]:
    return parse_mountinfo(Path(f"/proc/{pid}/mountinfo").read_text())
