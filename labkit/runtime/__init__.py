"""Containers, in three parts by the process the code runs in:

    client/     the caller's process (a notebook's kernel, the `labkit` command): lk.run, Container,
                the CLI verbs, and the socket to labkitd
    daemon/     labkitd, the server every container is a child of: one event loop, the operations
    container/  inside the new container, between fork and exec: PID 1's set-up, and exec's

and what they share: options.py (the checked input both sides apply), state.py (state.json, names),
spec.py (config.json), logs.py (the output FIFOs and log.json), devices.py (the device nodes).
"""
