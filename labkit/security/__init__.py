"""What keeps a container from reaching the host, beyond namespaces and cgroup limits.

    seccomp.py   the system calls a container may not make (Docker's default profile, in effect),
                 written into config.json as OCI `linux.seccomp` and compiled to a classic-BPF filter
    devices.py   the devices it may open (Docker's default rules): the v1 devices controller's
                 allow/deny lines, or on cgroup v2 an eBPF program attached to its group

Capabilities, masked /proc paths and no_new_privs are in kernel/capabilities.py and runtime/spec.py;
each container's own session keyring is joined in runtime/container/init.py.
"""
