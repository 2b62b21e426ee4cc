"""A room: one machine serves a workshop, each learner in an unprivileged LXD container of their own
(lxd.py: LXD's REST API), reached through JupyterHub; the instructor sees the room live."""
