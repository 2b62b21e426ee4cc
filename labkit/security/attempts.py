"""Try to get out of a container, and say which lock held: what the container tries, what the kernel
answers, and which rule answered. Notebook 11 shows the table; the tests ask the same questions.

    lk.escape_attempts(c)
    what the container tries                        the kernel's answer         which rule
    mknod /lk-disk b 7 0   (a node for a disk)       made                        devices: b *:* m (mknod only)
    head -c 1 /lk-disk     (read the host's disk)    Operation not permitted     devices: a *:* rwm denied
    unshare -U true        (a new user namespace)    Operation not permitted     seccomp: unshare
    ...

Each attempt runs with `exec` in the running container, so it meets every lock its PID 1 has.

Nested (labkit as root of a user namespace: a learner's unprivileged container, where/place()) two
rows differ, since there the kernel itself refuses the first step: only the host's root makes device
nodes (CAP_MKNOD counts in the host's user namespace alone), so the node for the disk is never made,
and the outer container's /dev has no disk to bind in. Those rows expect that answer and name it:

    mknod /lk-disk b 7 0   (a node for a disk)       Operation not permitted     user namespace: ...
    head -c 1 /lk-disk     (read the host's disk)    No such file or directory   the outer container: ...
"""

from __future__ import annotations

from ..catalog import speaker


#: (ID, the lock that should answer, shell command, what counts as "held": a pattern in the output, or
#: None for "the command succeeds": a harmless thing that is allowed). What each tries and the rule
#: that answers are the catalog's "attempts" texts what_<ID> and rule_<ID>, in the learner's language.
#: The loop device 7:0 stands for any disk of the host.
ATTEMPTS = (
    ("disk_node", "devices", "mknod /lk-disk b 7 0 && echo made", None),
    ("disk_read", "devices", "head -c 1 /lk-disk >/dev/null", "Operation not permitted"),
    ("dev_null", "devices", "echo hi > /dev/null", None),
    ("userns", "seccomp", "unshare -U true", "Operation not permitted"),
    ("mount", "capabilities", "mount -t tmpfs lk /mnt", "Permission denied|Operation not permitted"),
    ("keys", "masked_path", "cat /proc/keys | wc -c", "^0$"),
    ("kcore", "masked_path", "head -c 16 /proc/kcore | wc -c", "^0$"),
    ("sysctl", "read-only_path", "echo 1 > /proc/sys/vm/drop_caches", "Read-only file system"),
)


#: The rows that differ nested: ID -> (lock, what counts as held). Their rules are rule_<ID>_nested.
NESTED = {
    "disk_node": ("user_namespace", "Operation not permitted"),
    "disk_read": ("user_namespace", "No such file or directory|Operation not permitted"),
}


_say = speaker("attempts")  # what each tries and the rule that answers, in the learner's language


class Attempts(list):
    """Rows of (what, command, answer, rule, held, lock ID, harmless): a table in a notebook, text in a terminal."""

    @property
    def header(self) -> tuple[str, ...]:
        return tuple(_say(f"col_{k}") for k in ("what", "command", "answer", "rule", "held"))

    def __repr__(self) -> str:
        from ..catalog import columns, pad

        rows = [self.header] + [tuple(str(x) for x in r[:4]) + ("✔" if r[4] else "✘",) for r in self]
        widths = [max(columns(r[i]) for r in rows) for i in range(5)]
        return "\n".join("  ".join(pad(c, w) for c, w in zip(r, widths)).rstrip() for r in rows)

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

    from ..host.where import place

    nested = place().nested
    rows = Attempts()
    for key, lock, command, refused in ATTEMPTS:
        what, rule = _say(f"what_{key}"), _say(f"rule_{key}")
        if nested and key in NESTED:
            (lock, refused), rule = NESTED[key], _say(f"rule_{key}_nested")
        r = container.exec(["sh", "-c", command])
        said = (r.stderr.strip().splitlines() or [""])[-1]
        answer = said.rsplit(": ", 1)[-1] if r.exit_code else (r.stdout.strip() or "ok")
        if refused is None:
            held = r.exit_code == 0
        else:
            held = bool(re.search(refused, said, re.M | re.I) or re.search(refused, r.stdout.strip(), re.M | re.I))
        rows.append((what, command, answer or _say("exit", code=r.exit_code), rule, held, lock, refused is None))
    return rows
