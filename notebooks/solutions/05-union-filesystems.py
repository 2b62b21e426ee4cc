# Solutions of notebook 05's exercises (see 02-namespaces.py for how they are used).

# exercise: 05.whiteout
ov = stack()   # made again if the clean-up cell at the end removed it
if not (ov.merged / "bin" / "vi").exists():   # an earlier try deleted it: a new one, written over its whiteout
    (ov.merged / "bin" / "vi").write_text("#!/bin/sh\necho an editor\n")
os.remove(ov.merged / "bin" / "vi")
lk.exercise("05.whiteout").verify(gone=not os.path.lexists(ov.merged / "bin" / "vi"),
                                  lower_kept=(lower1 / "bin" / "vi").exists())

# exercise: 05.by-hand
import subprocess
stack()                                   # lower1 and lower2, made again if the clean-up cell at the end removed them
mine = base / "by-hand"
upper, work, merged = mine / "upper", mine / "work", mine / "merged"

def sh(cmd: str) -> None:
    """Show the command, run it; its error, if any, stops the cell."""
    print("$", cmd)
    p = subprocess.run(cmd, shell=True, capture_output=True, text=True)
    if p.returncode:
        raise RuntimeError(p.stderr.strip())

try:
    sh(f"mkdir -p {upper} {work} {merged}")   # 1. make the three folders a mount of overlayfs needs, besides its lower layers
    sh(f"mount -t overlay labkit-nb05 -o lowerdir={lower2}:{lower1},upperdir={upper},workdir={work} {merged}")   # 2. mount an overlay at merged: lower2 above lower1, read-only; upper for the changes; work for the kernel
    seen = [line.split(" - ")[1].split() for line in open("/proc/self/mountinfo") if line.split()[4] == str(merged)]
    shows = (merged / "shared.txt").read_text()
    (merged / "new.txt").write_text("written through the mount\n")
    landed = (upper / "new.txt").exists() and not (lower1 / "new.txt").exists() and not (lower2 / "new.txt").exists()
finally:
    if os.path.ismount(merged):
        subprocess.run(["umount", str(merged)])   # the check has read the kernel: the mount goes, and the folders
    shutil.rmtree(mine, ignore_errors=True)
print("the kernel's mount table:", seen[0] if seen else "no mount at merged", "| merged's shared.txt:", shows.strip())
lk.exercise("05.by-hand").verify(mounted=bool(seen) and seen[0][0] == "overlay", order=shows == "lower2's version\n",
                                 landed=landed)
