"""What runs in the caller's process: lk.run and lk.create (run.py, containers.py), the CLI's verbs
(commands.py), and the requests they send labkitd over its Unix socket (labkitd.py)."""
