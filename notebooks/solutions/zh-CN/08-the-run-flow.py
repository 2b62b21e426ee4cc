# 笔记本 08 练习的解答（用法见 02-namespaces.py）。

# exercise: 08.no-network
lk.tidy("nb08-nonet")                                      # 上一次尝试留下的东西
mode = "none"                                                 # 网络模式
r3 = lk.run("busybox", "true", network=mode, trace=True, rm=True, stream=False)
print(r3.trace_table())                                    # 它的步骤：其中有网络这一步吗？
c3 = lk.run("busybox", "sleep 30", network=mode, detach=True, name="nb08-nonet")   # 再起一个，让它一直运行：去问内核
links = [line.split(":")[0].strip() for line in open(f"/proc/{c3.pid}/net/dev").read().splitlines()[2:]]   # 它的命名空间里的网络链路
c3.remove(force=True)
print("the links in its network namespace:", links)
lk.exercise("08.no-network").verify(only_lo=links == ["lo"], no_veth_step="network" not in r3.steps)

# exercise: 08.by-hand
lk.tidy("nb08-by-hand")                                    # 上一次尝试留下的东西：它的 overlay、它的控制组
layers = lk.layers("busybox")                              # 第 1 步：busybox 的层目录，不在本机就先拉取
ov = lk.overlay(layers, name="nb08-by-hand")               # 第 2 步：在它们上面加一个可写层：名为 nb08-by-hand 的 overlay
g = lk.cgroup("nb08-by-hand", memory="32M")                # 第 2 步：它的控制组 nb08-by-hand，内存限制 32 MiB
p = g.spawn(["unshare", "--fork", "--pid", "--mount", "--uts", "--ipc", "--net", f"--mount-proc={ov.merged}/proc",
             "chroot", str(ov.merged), "sh", "-c", "echo ran > /ran; echo ready; exec sleep 60"])   # 第 3 步（只有 lo）和第 4 步
ready = p.stdout.readline().strip() == "ready"
root = [l.split() for l in open("/proc/self/mountinfo") if l.split()[4] == str(ov.merged)]   # 内核的挂载表
running = {"overlay": bool(root) and root[-1][root[-1].index("-") + 1] == "overlay",
           "limit": g.stats().memory_limit == 32 << 20, "in_group": "nb08-by-hand" in open(f"/proc/{p.pid}/cgroup").read(),
           "wrote": (ov.upper / "ran").exists()}
g.kill(); p.wait()                                         # 第 4 步：命令结束
ov.unmount(remove=True); g.remove()                        # ……然后容器用过的东西都要拿掉：先是 overlay，再是控制组
gone = not os.path.ismount(ov.merged) and not any(d.exists() for d in g.paths)
print("while it ran:", running, "| after its end, nothing left:", gone)
lk.exercise("08.by-hand").verify(step_1=all(os.path.isdir(d) for d in layers), step_2=ready and running["overlay"] and running["wrote"],
                                 limited=running["limit"] and running["in_group"], step_4=gone)
