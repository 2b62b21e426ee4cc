"""The steps of a container's start, by ID, and the step of the seed's `docker run` flow each is part of.

A trace (lk.run(..., trace=True)) is a list of (what was done, milliseconds), for a learner to read,
with its step IDs beside it (RunResult.steps), for code to read: a sentence may change or be
translated, an ID does not. E.g. r.steps = ("check", "create", "cgroup", "network", "fork", ...):

    "network" in r.steps            the container got an interface on a network (step 3)
    r.steps[0] == "pull"            the image was not here, and was pulled first (step 1)

The seed's four steps (notebook 08): 1 find the image, or pull it; 2 create the container from it,
with a writable layer over the image's read-only ones; 3 give it a network interface on a bridge
and an address from a pool; 4 start it: run the command the user gave. Step 0 is the client's.
"""

from __future__ import annotations

#: step ID -> the seed's step it belongs to ("0" .. "4"), in the order a start takes them
STEPS = {
    "check": "0",        # the client checks the request
    "pull": "1",         # the image is not here: pull it
    "create": "2",       # find the image; lay out the writable layer, config.json, the record
    "cgroup": "2",       # the container's cgroup and its limits
    "network": "3",      # a veth on the bridge, an address from the pool (or another's namespace)
    "fork": "4",         # PID 1 of a new PID namespace
    "namespaces": "4",   # the other namespaces
    "rootfs": "4",       # the overlay, /proc, /dev, /sys mounted
    "pivot-root": "4",   # the container's root becomes /
    "mask": "4",         # masked /proc paths, /proc/sys read-only
    "hostname": "4",     # its hostname, lo up
    "cgroup-join": "4",  # PID 1 joins its cgroups
    "cgroupns": "4",     # a cgroup namespace and its own /sys/fs/cgroup
    "security": "4",     # capabilities, user, no_new_privs, seccomp
    "exec": "4",         # the command is exec'd
    "run": "4",          # the command runs and exits
    "remove": "4",       # --rm: the container is removed
}
SEED_STEPS = ("0", "1", "2", "3", "4")


def seed_totals(steps, trace) -> dict[str, float]:
    """Milliseconds per seed step, in the seed's order, for the steps that happened:
    {"0": 0.01, "2": 3.1, "3": 1.7, "4": 9.8} (no "1": the image was here)."""
    totals: dict[str, float] = {}
    for step, (_text, ms) in zip(steps, trace):
        seed = STEPS.get(step)
        if seed is not None:
            totals[seed] = totals.get(seed, 0.0) + ms
    return {s: totals[s] for s in SEED_STEPS if s in totals}
