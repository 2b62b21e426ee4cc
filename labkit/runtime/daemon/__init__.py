"""labkitd, the lab's server: what runs in the daemon (supervisor.py says how its parts fit together).

The client side (lk.run, lk.ps, the CLI) is ../client/: labkitd.py (the socket), run.py,
containers.py, commands.py. What runs inside a container, after labkitd's fork, is ../container/:
init.py (PID 1) and exec_shim.py (exec), which report to labkitd as report.py says. What both sides
read: ../options.py, ../state.py, ../logs.py (the log's format; pump.py here writes it), ../spec.py.
"""
