"""A container's terminal, made inside it: what runc's --console-socket does.

A terminal made by labkitd (os.openpty() on the host) would be the host's /dev/pts/N: inside, where
/dev/pts is the container's own devpts instance, `tty` would answer "not a tty". So the process
that becomes the terminal's user makes it itself, once it is in the container's mount namespace:

    inside   os.openpty(): /dev/ptmx -> pts/ptmx of the container's devpts: master, and slave /dev/pts/0
             a new session; the slave its controlling terminal and its fds 0, 1, 2
             the master sent over the console socket (SCM_RIGHTS), then closed here
    outside  the master received (receive_master): read for the output, written with the input

Used by a container's PID 1 (init.py, after pivot_root) and by exec (exec_shim.py, after setns).
"""

from __future__ import annotations

import fcntl
import os
import socket
import termios


def make_terminal(console_fd: int) -> None:
    master, slave = os.openpty()
    os.setsid()  # a session of its own, whose controlling terminal the slave becomes
    fcntl.ioctl(slave, termios.TIOCSCTTY, 0)
    for n in (0, 1, 2):
        os.dup2(slave, n)
    if slave > 2:
        os.close(slave)
    sock = socket.socket(fileno=console_fd)
    try:
        socket.send_fds(sock, [b"m"], [master])
    finally:
        sock.close()
        os.close(master)


def receive_master(sock: socket.socket, timeout: float = 5.0) -> int:
    """The master the process inside sent (it did, before its exec): raises OSError if none came."""
    sock.settimeout(timeout)
    _, fds, _, _ = socket.recv_fds(sock, 16, 1)
    if not fds:
        raise OSError(5, "no terminal came over the console socket")
    os.set_inheritable(fds[0], False)
    return fds[0]
