"""A bare Debian root, as a learner's fresh VM in a room without network: `./lab setup --from` a
workshop bundle runs there, then `labkit doctor` and a container (the room's path, issue 22).

The root is Debian's minbase with python3 (made once by `./lab test`'s set-up with mmdebstrap, in
BARE_ROOTS; the tests never fetch anything). Each use is an overlay on it, in a mount, network and
PID namespace of its own: the root pivoted to (not a chroot: a chrooted process may not make a user
namespace), no network interface but a loopback, and everything it mounted gone with the namespace.
It shares the host's cgroup hierarchies (/sys), so its lab gets a data root, and with it a cgroup
name, of its own.

    r = bareroot.set_up(Path("/var/tmp/workshop.tar"), tmp_path)
    r.returncode, r.stdout    # the whole session: setup's output, doctor's JSON between markers, the run
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

BARE_ROOTS = Path("/var/cache/labkit-test")


def codename() -> str:
    for line in Path("/etc/os-release").read_text().splitlines():
        if line.startswith("VERSION_CODENAME="):
            return line.split("=", 1)[1].strip('"')
    return "bookworm"


def root_path() -> Path:
    """/var/cache/labkit-test/minbase-bookworm: what ./lab test's set-up made (prepare_bare_root)."""
    return BARE_ROOTS / f"minbase-{codename()}"


# Run by bash inside `unshare --mount --net --pid --fork`: $1 the bare root, $2 a work folder, $3 the bundle.
_SCRIPT = r'''
set -eu
base=$1 work=$2 bundle=$3
# The lab's data root here: not /var/lib/labkit, whose tag ("labkit") names the host's own lab's
# cgroups, which this root sees through /sys: another tag keeps the two labs' groups apart.
DATA=/var/lib/labkit-bareroot
mkdir -p "$work/upper" "$work/work" "$work/root"
mount -t overlay labkit-bareroot -o "lowerdir=$base,upperdir=$work/upper,workdir=$work/work" "$work/root"
R=$work/root
cp "$bundle" "$R/workshop.tar"
mkdir -p "$R/root/lab"
tar -xOf "$R/workshop.tar" source.tar | tar -x -C "$R/root/lab"   # the lab's source, as the bundle carries it
mount -t proc proc "$R/proc"
mount --rbind /dev "$R/dev"
mount --rbind /sys "$R/sys"
mount -t tmpfs labkit-bareroot-run "$R/run"
mkdir -p "$R$DATA"
mount -t tmpfs labkit-bareroot-data "$R$DATA"    # the data root may not be on overlayfs
ip link set lo up 2>/dev/null || true
mkdir -p "$R/.old"
cd "$R"
pivot_root . .old
exec /bin/bash -c '
  umount -l /.old; rmdir /.old
  export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LABKIT_ROOT='"$DATA"'
  cd /root/lab
  SECONDS=0
  ./lab setup --from /workshop.tar
  echo "=== set-up took $SECONDS s"
  echo "=== doctor"
  .venv/bin/labkit doctor --json || true
  echo "=== run"
  .venv/bin/labkit run --rm busybox echo from the bare root
  .venv/bin/labkit reset --yes >/dev/null
'
'''


def set_up(bundle: Path, work: Path, timeout: float = 280) -> subprocess.CompletedProcess:
    root = root_path()
    if not (root / "usr" / "bin" / "python3").exists():
        raise AssertionError(f"no bare root at {root}: `./lab test` makes it at set-up (mmdebstrap --variant=minbase)")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LABKIT_", "VIRTUAL_ENV", "PYTHON"))}
    return subprocess.run(["unshare", "--mount", "--net", "--pid", "--fork", "--propagation", "private",
                           "bash", "-c", _SCRIPT, "bareroot", str(root), str(work), str(bundle)],
                          env=env, capture_output=True, text=True, timeout=timeout)


def section(out: str, name: str) -> str:
    """The part of the session's output after "=== name" and before the next marker."""
    part = out.split(f"=== {name}\n", 1)[-1] if f"=== {name}\n" in out else ""
    return part.split("\n=== ", 1)[0]
