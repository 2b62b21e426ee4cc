# Solutions of notebook 11's exercises: each starts with its "# exercise: ID" line and replaces the
# cell of that ID when the tests run the notebook "with the solutions" (tests/test_notebooks.py). They
# are also the last hint a learner can unfold.

# exercise: 11.limit-inside
c = box()   # started again if the clean-up cell below removed it
from labkit import cgroups
print("cgroup version", cgroups.layout().version, "| inside:", c.exec("ls /sys/fs/cgroup").stdout.split()[:8])
path = "/sys/fs/cgroup/memory.max" if cgroups.layout().version == 2 else "/sys/fs/cgroup/memory/memory.limit_in_bytes"
got = c.exec(["cat", path]).stdout.strip()
print(path, "says", got)
lk.exercise("11.limit-inside").verify(limit=got == str(64 << 20))

# exercise: 11.by-hand
import subprocess, sys, time
from labkit.kernel import capabilities as caps
program = """
import os
from labkit.kernel import syscalls as k, capabilities as caps
for name in set(caps.NAMES) - set(caps.DOCKER_DEFAULT): k.prctl(k.PR_CAPBSET_DROP, caps.NUMBER[name])   # 1. the bounding set: drop each capability Docker does not keep (caps.NAMES, caps.DOCKER_DEFAULT, k.PR_CAPBSET_DROP)
k.prctl(k.PR_SET_NO_NEW_PRIVS, 1)   # 2. no_new_privs: no program run from here on gains a privilege (a setuid file, file capabilities)
os.execvp("sleep", ["sleep", "60"])                        # root runs a program: it gets what the bounding set allows
"""
p = subprocess.Popen([sys.executable, "-c", program], stderr=subprocess.PIPE, text=True)
status = ""
for _ in range(100):                                       # until the program is sleep (or has failed)
    try:
        status = open(f"/proc/{p.pid}/status").read()
    except FileNotFoundError:
        status = ""
    if p.poll() is not None or "Name:\tsleep" in status:
        break
    time.sleep(0.05)
p.kill(); p.wait()
if "Name:\tsleep" not in status:
    print(p.stderr.read()[-600:])                          # why the program failed
fields = dict(line.split(":\t", 1) for line in status.splitlines() if ":\t" in line)
bounding, effective = (int(fields.get(f, "0"), 16) for f in ("CapBnd", "CapEff"))
print(f"CapBnd {bounding:016x}  CapEff {effective:016x}  NoNewPrivs {fields.get('NoNewPrivs', '?').strip()}"
      f"   (Docker's 14: {caps.mask(caps.DOCKER_DEFAULT):016x})")
print("dropped, as the kernel says:", ", ".join(n[4:].lower() for n in caps.names(~bounding & caps.mask(caps.NAMES)))[:200] or "none")
lk.exercise("11.by-hand").verify(bounding=bounding == caps.mask(caps.DOCKER_DEFAULT),
                                 effective=effective == caps.mask(caps.DOCKER_DEFAULT),
                                 no_new_privs=fields.get("NoNewPrivs", "").strip() == "1")
