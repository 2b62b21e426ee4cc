# Solutions of notebook 08's exercises (see 02-namespaces.py for how they are used).

# exercise: 08.no-network
r3 = lk.run("busybox", "ip -o link", network="none", trace=True, rm=True, stream=False)
print(r3.stdout)
print(r3.trace_table())   # its steps: is there a network step among them?
lk.exercise("08.no-network").verify(only_lo=len(r3.stdout.strip().splitlines()) == 1 and " lo:" in r3.stdout,
                                    no_veth_step="network" not in r3.steps)
