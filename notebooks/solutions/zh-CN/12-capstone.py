# 笔记本 12 练习的解答：每个解答以它的 "# exercise: ID" 行开头，测试“带解答运行”笔记本时
# 替换那个 ID 的单元格（tests/test_notebooks.py）。它们也是学员能展开的
# 最后一级提示。

# exercise: 12.pids
quotes = service()   # 如果最后的清理单元格删掉了它，就重新创建
quotes.update(pids_limit=20)
bomb = quotes.exec(["sh", "-c", "for i in $(seq 1 60); do sleep 1 & done; wait"])   # 炸弹结束后才返回
limit = quotes.stats().pids_limit
before = served(); time.sleep(1.5); after = served()
print(f"pids limit in the kernel: {limit}; the bomb's shell said {bomb.stderr.strip()[-50:]!r}; quotes #{before} -> #{after}")
lk.exercise("12.pids").verify(limited=limit is not None and limit <= 20, stopped=bomb.exit_code != 0, serving=after > before)

# exercise: 12.publish
service()   # 镜像和网络，如果最后的清理单元格删掉了它们，就重新创建
lk.tidy("nb12-quotes2")   # 上一次尝试留下的东西
q2 = lk.run("localhost/nb12/app:1", detach=True, name="nb12-quotes2", network="nb12-net", ports=["127.0.0.1:0:8080"])
ports = q2.attrs["ports"]
answer = ""
if ports:
    for _ in range(25):
        try:
            answer = urllib.request.urlopen(f"http://127.0.0.1:{ports[0]['host_port']}/cgi-bin/quote", timeout=5).read().decode()
            break
        except OSError:
            time.sleep(0.2)                  # httpd 正在启动
print("the host reads:", answer, end="")
lk.exercise("12.publish").verify(published=bool(ports), answered=q2.id[:12] in answer)

# exercise: 12.dockerfile
import shutil
lk.tidy("nb12-clock")                     # 上一次尝试留下的东西
clock = Path(tempfile.mkdtemp(prefix="labkit-nb12-"))
(clock / "now").write_text('#!/bin/sh\necho "Content-Type: text/plain"\necho\necho "$(date -u +%T) from $(id -un) in $(hostname)"\n')
(clock / "now").chmod(0o755)              # COPY 会保留文件的权限位
(clock / "Dockerfile").write_text("""FROM busybox
COPY now /srv/cgi-bin/now
USER nobody
CMD ["httpd", "-f", "-p", "9090", "-h", "/srv"]
""")
try:
    image = lk.build(clock, tag="localhost/nb12/clock:1")
finally:
    shutil.rmtree(clock)                  # 构建上下文，在 /tmp 里
c = lk.run(image, detach=True, name="nb12-clock", ports=["127.0.0.1:0:9090"])
answer = ""
for _ in range(25):
    try:
        answer = urllib.request.urlopen(f"http://127.0.0.1:{c.attrs['ports'][0]['host_port']}/cgi-bin/now", timeout=5).read().decode()
        break
    except OSError:
        time.sleep(0.2)                   # httpd 正在启动，或者永远起不来
status = Path(f"/proc/{c.pid}/status").read_text() if c.status == "running" else ""
uid = next((int(line.split()[1]) for line in status.splitlines() if line.startswith("Uid:")), None)
print("the host reads:", answer or "nothing", "| the container's first process runs as UID", uid)
lk.exercise("12.dockerfile").verify(serves=c.id[:12] in answer, unprivileged=uid == 65534)
