# Solutions of notebook 09's exercises (see 02-namespaces.py for how they are used).

# exercise: 09.connect
lk.tidy("nb09-db")   # each try starts from a fresh nb09-db on the back network (a try before may have connected it)
db = lk.run("busybox", "sleep 300", detach=True, name="nb09-db", network="nb09-back")
before = db.exec("ping -c 1 -W 1 nb09-web").exit_code
lk.network.connect("nb09-front", "nb09-db")
after = db.exec("ping -c 1 -W 2 nb09-web").exit_code
lk.exercise("09.connect").verify(isolated_before=before != 0, reaches_after=after == 0,
                                 two_interfaces="eth1" in db.exec("ip -o link").stdout)
