# 笔记本 05 练习的解答（用法见 02-namespaces.py）。

# exercise: 05.whiteout
ov = stack()   # 如果最后的清理单元格删掉了它，就重新创建
if not (ov.merged / "bin" / "vi").exists():   # 之前的尝试删掉了它：写一个新的，盖住它的 whiteout
    (ov.merged / "bin" / "vi").write_text("#!/bin/sh\necho an editor\n")
os.remove(ov.merged / "bin" / "vi")
lk.exercise("05.whiteout").verify(gone=not os.path.lexists(ov.merged / "bin" / "vi"),
                                  lower_kept=(lower1 / "bin" / "vi").exists())

# exercise: 05.by-hand
import subprocess
stack()                                   # lower1 和 lower2，如果最后的清理单元格删掉了它们，就重新创建
mine = base / "by-hand"
upper, work, merged = mine / "upper", mine / "work", mine / "merged"

def sh(cmd: str) -> None:
    """Show the command, run it; its error, if any, stops the cell."""
    print("$", cmd)
    p = subprocess.run(cmd, shell=True, capture_output=True, text=True)
    if p.returncode:
        raise RuntimeError(p.stderr.strip())

try:
    sh(f"mkdir -p {upper} {work} {merged}")   # 1. 除了下层之外，创建 overlayfs 挂载需要的三个目录
    sh(f"mount -t overlay labkit-nb05 -o lowerdir={lower2}:{lower1},upperdir={upper},workdir={work} {merged}")   # 2. 在 merged 上挂载 overlay：lower2 在 lower1 之上，只读；upper 存放改动；work 给内核用
    seen = [line.split(" - ")[1].split() for line in open("/proc/self/mountinfo") if line.split()[4] == str(merged)]
    shows = (merged / "shared.txt").read_text()
    (merged / "new.txt").write_text("written through the mount\n")
    landed = (upper / "new.txt").exists() and not (lower1 / "new.txt").exists() and not (lower2 / "new.txt").exists()
finally:
    if os.path.ismount(merged):
        subprocess.run(["umount", str(merged)])   # 检查已经读过内核：卸载挂载，删除目录
    shutil.rmtree(mine, ignore_errors=True)
print("the kernel's mount table:", seen[0] if seen else "no mount at merged", "| merged's shared.txt:", shows.strip())
lk.exercise("05.by-hand").verify(mounted=bool(seen) and seen[0][0] == "overlay", order=shows == "lower2's version\n",
                                 landed=landed)
