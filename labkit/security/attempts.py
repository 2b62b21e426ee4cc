"""Try to get out of a container, and say which lock held: what the container tries, what the kernel
answers, and which rule answered. Notebook 11 shows the table; the tests ask the same questions.

    lk.escape_attempts(c)
    what the container tries                        the kernel's answer         which rule
    mknod /lk-disk b 7 0   (a node for a disk)       made                        devices: b *:* m (mknod only)
    head -c 1 /lk-disk     (read the host's disk)    Operation not permitted     devices: a *:* rwm denied
    unshare -U true        (a new user namespace)    Operation not permitted     seccomp: unshare
    ...

Each attempt runs with `exec` in the running container, so it meets every lock its PID 1 has.
"""

from __future__ import annotations

from . import seccomp

#: (what, shell command, the rule that should answer, what counts as "held": a string in the output,
#: or None for "the command succeeds"). The loop device 7:0 stands for any disk of the host.
ATTEMPTS = (
    ("make a node for the host's first loop device", "mknod /lk-disk b 7 0 && echo made", "devices: b *:* m allows mknod",
     None),
    ("read the host's disk through that node", "head -c 1 /lk-disk >/dev/null", "devices: a *:* rwm denied (not listed)",
     "Operation not permitted"),
    ("write to /dev/null", "echo hi > /dev/null", "devices: c 1:3 rwm allowed", None),
    ("make a new user namespace (no capability needed)", "unshare -U true", f"seccomp: unshare — {seccomp.why('unshare')}",
     "Operation not permitted"),
    ("mount a filesystem", "mount -t tmpfs lk /mnt", "capabilities: no CAP_SYS_ADMIN; seccomp: mount",
     "Permission denied|Operation not permitted"),
    ("read the host's keys", "cat /proc/keys | wc -c", "masked path: /proc/keys is /dev/null; seccomp: keyctl",
     "^0$"),
    ("read the host's memory", "head -c 16 /proc/kcore | wc -c", "masked path: /proc/kcore", "^0$"),
    ("change a kernel setting", "echo 1 > /proc/sys/vm/drop_caches", "read-only path: /proc/sys", "Read-only file system"),
)


class Attempts(list):
    """Rows of (what, command, answer, rule, held): a table in a notebook, text in a terminal."""

    header = ("what the container tries", "command", "the kernel's answer", "which rule", "held")

    def __repr__(self) -> str:
        rows = [self.header] + [tuple(str(x) for x in r) for r in self]
        widths = [max(len(r[i]) for r in rows) for i in range(len(self.header))]
        return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows)

    def _repr_html_(self) -> str:
        import html

        head = "".join(f"<th style='text-align:left'>{html.escape(h)}</th>" for h in self.header)
        body = "".join(
            "<tr>" + "".join(f"<td style='text-align:left'>{html.escape(str(c)) if i != 1 else '<code>' + html.escape(c) + '</code>'}</td>"
                             for i, c in enumerate(r[:4]))
            + f"<td style='color:{'#2a2' if r[4] else '#c33'}'>{'✔' if r[4] else '✘'}</td></tr>" for r in self)
        return f"<table><tr>{head}</tr>{body}</table>"

    @property
    def all_held(self) -> bool:
        return all(r[4] for r in self)


def escape_attempts(container) -> Attempts:
    """Run each of ATTEMPTS inside `container` (running) and report what the kernel answered."""
    import re

    rows = Attempts()
    for what, command, rule, refused in ATTEMPTS:
        r = container.exec(["sh", "-c", command])
        said = (r.stderr.strip().splitlines() or [""])[-1]
        answer = said.rsplit(": ", 1)[-1] if r.exit_code else (r.stdout.strip() or "ok")
        if refused is None:
            held = r.exit_code == 0
        else:
            held = bool(re.search(refused, said, re.M | re.I) or re.search(refused, r.stdout.strip(), re.M | re.I))
        rows.append((what, command, answer or f"exit {r.exit_code}", rule, held))
    return rows
