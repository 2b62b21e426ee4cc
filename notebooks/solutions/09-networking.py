# Solutions of notebook 09's exercises (see 02-namespaces.py for how they are used).

# exercise: 09.nat-by-hand
by_hand_network()   # made again if the clean-up cell below removed it
stop_servers(); clean_rules()                              # what a try before this one left
www = Path(tempfile.mkdtemp(prefix="labkit-nb09-"))        # the namespace shares the host's files: only its network is its own
(www / "index.html").write_text("hello from the namespace\n")
server = subprocess.Popen(["ip", "netns", "exec", NS, "busybox", "httpd", "-f", "-p", "80", "-h", str(www)])
sh(f"iptables -t nat -A POSTROUTING -s {subnet} ! -o {BR} -j MASQUERADE -m comment --comment {NS}")   # 1. MASQUERADE
sh(f"iptables -t nat -A OUTPUT -d {gw} -p tcp --dport 8099 -j DNAT --to-destination {addr}:80 -m comment --comment {NS}")   # 2. DNAT
rules = [r for r in sh("iptables -t nat -S").splitlines() if f"{subnet}" in r or f"{addr}:" in r]
print("\n".join(rules))
page, direct = "", urllib.request.build_opener(urllib.request.ProxyHandler({}))   # straight to the address, no proxy
for _ in range(30):                                                                  # httpd may still be starting
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
web = front_and_back()   # made again if the clean-up cell below removed them
lk.tidy("nb09-db")   # each try starts from a fresh nb09-db on the back network (a try before may have connected it)
db = lk.run("busybox", "sleep 300", detach=True, name="nb09-db", network="nb09-back")
before = db.exec("ping -c 1 -W 1 nb09-web").exit_code
lk.network.connect("nb09-front", "nb09-db")
after = db.exec("ping -c 1 -W 2 nb09-web").exit_code
lk.exercise("09.connect").verify(isolated_before=before != 0, reaches_after=after == 0,
                                 two_interfaces="eth1:" in open(f"/proc/{db.pid}/net/dev").read())   # its namespace's links, from the kernel
