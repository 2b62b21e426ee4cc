"""What runs in a process labkitd forked, on its way into a container: a container's PID 1 (init.py)
and a process `exec` adds to a running one (exec_shim.py). Both end in execve of the command."""
