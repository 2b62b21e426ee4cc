"""labkitd, the lab's server: what runs in the daemon (supervisor.py says how its parts fit together).

The client side (lk.run, lk.ps, the CLI) is in the folder above: client.py, run.py, containers.py,
options.py, commands.py. What runs inside a container, after labkitd's fork, is init.py (PID 1) and
exec_shim.py (exec). Records both sides read: state.py, logs.py, spec.py.
"""
