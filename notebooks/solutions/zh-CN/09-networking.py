# 笔记本 09 练习的解答（用法见 02-namespaces.py）。

# exercise: 09.nat-by-hand
by_hand_network()   # 如果下面的清理单元格删掉了它，就重新创建
stop_servers(); clean_rules()                              # 上一次尝试留下的东西
www = Path(tempfile.mkdtemp(prefix="labkit-nb09-"))        # 这个命名空间共享主机的文件：只有网络是它自己的
(www / "index.html").write_text("hello from the namespace\n")
server = subprocess.Popen(["ip", "netns", "exec", NS, "busybox", "httpd", "-f", "-p", "80", "-h", str(www)])
sh(f"iptables -t nat -A POSTROUTING -s {subnet} ! -o {BR} -j MASQUERADE -m comment --comment {NS}")   # 1. MASQUERADE（源地址伪装）
sh(f"iptables -t nat -A OUTPUT -d {gw} -p tcp --dport 8099 -j DNAT --to-destination {addr}:80 -m comment --comment {NS}")   # 2. DNAT（目的地址转换）
rules = [r for r in sh("iptables -t nat -S").splitlines() if f"{subnet}" in r or f"{addr}:" in r]
print("\n".join(rules))
page, direct = "", urllib.request.build_opener(urllib.request.ProxyHandler({}))   # 直接访问地址，不经过代理
for _ in range(30):                                                                  # httpd 可能还在启动
    try:
        page = direct.open(f"http://{gw}:8099/", timeout=2).read().decode()
        break
    except OSError:
        time.sleep(0.1)
print(f"http://{gw}:8099/ ->", page or "no answer")
server.kill(); server.wait(); shutil.rmtree(www)
lk.exercise("09.nat-by-hand").verify(
    masquerade=any("-j MASQUERADE" in r and f"-s {subnet}" in r and f"! -o {BR}" in r for r in rules),
    dnat=page == "hello from the namespace\n",
    commented=bool(rules) and all(NS in r for r in rules))

# exercise: 09.connect
web = front_and_back()   # 如果下面的清理单元格删掉了它们，就重新创建
lk.tidy("nb09-db")   # 每次尝试都从后端网络上一个新的 nb09-db 开始（之前的尝试可能已经连过它）
db = lk.run("busybox", "sleep 300", detach=True, name="nb09-db", network="nb09-back")
before = db.exec("ping -c 1 -W 1 nb09-web").exit_code
lk.network.connect("nb09-front", "nb09-db")
after = db.exec("ping -c 1 -W 2 nb09-web").exit_code
lk.exercise("09.connect").verify(isolated_before=before != 0, reaches_after=after == 0,
                                 two_interfaces="eth1:" in open(f"/proc/{db.pid}/net/dev").read())   # 它的命名空间里的网络链路，从内核读取
