"""A container's terminal, made inside it: what runc's --console-socket does.

A terminal made by labkitd (os.openpty() on the host) would be the host's /dev/pts/N: inside, where
/dev/pts is the container's own devpts instance, `tty` would answer "not a tty". So the process
that becomes the terminal's user makes it itself, once it is in the container's mount namespace:

    inside   os.openpty(): /dev/ptmx -> pts/ptmx of the container's devpts: master, and slave /dev/pts/0
             a new session; the slave its controlling terminal and its fds 0, 1, 2
             the master sent over the console socket (SCM_RIGHTS), then closed here
    outside  the master received (receive_master): read for the output, written with the input

Used by a container's PID 1 (init.py, after pivot_root) and by exec (exec_shim.py, after setns);
resize() by labkitd and by `labkit exec -it`, which hold a master.
"""

from __future__ import annotations

import errno
import fcntl
import os
import socket
import struct
import termios


def make_terminal(console_fd: int, rows: int = 24, cols: int = 80) -> None:
    """The size is set here, before the command's exec: a shell that starts at once reads it
    (`docker run -it` sends the window's as ConsoleSize; a resize after the start would race it)."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
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


def resize(master: int, rows, cols) -> None:
    """Set a terminal's window size (`docker run -it` sends it at start and on every SIGWINCH); the
    kernel sends SIGWINCH to the terminal's foreground process."""
    if type(rows) is not int or type(cols) is not int or not (0 < rows < 65536 and 0 < cols < 65536):
        from ...errors import InvalidArgument

        raise InvalidArgument("error.runtime.terminal-size-x-rows", rows=rows, cols=cols)
    fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


def receive_master(sock: socket.socket, timeout: float = 5.0) -> int:
    """The master the process inside sent (it did, before its exec), non-blocking, its size already
    set inside (make_terminal: the client's window, else the classic 24 x 80). OSError if none came."""
    sock.settimeout(timeout)
    _, fds, _, _ = socket.recv_fds(sock, 16, 1)
    if not fds:
        raise OSError(errno.EIO, "no terminal came over the console socket")
    os.set_inheritable(fds[0], False)
    os.set_blocking(fds[0], False)
    return fds[0]
