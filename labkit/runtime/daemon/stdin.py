"""A container's standard input, and its terminal: what `docker run -i` and `-t` give.

    -i      the container's fd 0 is the read end of a pipe; labkitd holds the write end
    -t      the container's fds 0, 1, 2 are the slave of a pseudo-terminal of its own /dev/pts (its
            controlling terminal: Ctrl-C becomes SIGINT by the terminal's line discipline, inside),
            made inside (container/console.py); labkitd holds the master it sent back, reads the
            output from it and writes the input to it. Resizing sets its window size (TIOCSWINSZ),
            and the kernel sends SIGWINCH to the foreground process.

The attached client's bytes arrive on its connection after its request (connection.py's
on_input) and go to Stdin.feed(); b"" is the client's end of input (it shut down its sending
side): without a terminal the pipe is closed, so `cat` in the container sees EOF; with one,
nothing happens (Ctrl-D is a byte the terminal turns into EOF). labkitd never waits on the
container: what the pipe cannot take now waits here, and while more than MAX_BUFFERED bytes
wait, the client's connection is not read (its sends wait instead).

Neither end survives labkitd: a restarted labkitd adopts the container, whose input then ends
(and whose terminal hangs up), as a container's would if dockerd's shim died.
"""

from __future__ import annotations

import os

MAX_BUFFERED = 1 << 20


class Stdin:
    def __init__(self, fd: int, tty: bool):
        os.set_blocking(fd, False)
        self.fd, self.tty = fd, tty
        self.buf = bytearray()
        self.conn = None  # the client whose input this is (the last to attach with stdin)
        self.eof = False  # the client's input ended: close once buf is written
        self.closed = False
        self.on_change = lambda: None  # labkitd re-watches (the fd for writing, the client for reading)

    def attach(self, conn) -> None:
        if self.conn is not None and self.conn is not conn:
            self.conn.on_input = None
        self.conn = conn
        conn.on_input = self.feed
        early, conn.input_buf, conn.keep_input = bytes(conn.input_buf), bytearray(), False
        conn.input_paused = False
        if early:
            self.feed(early)
        if conn.input_eof:
            self.feed(b"")

    def feed(self, data: bytes) -> None:
        if self.closed:
            return
        if not data:
            if not self.tty:
                self.eof = True
                self.flush()
            return
        self.buf += data
        self.flush()

    def flush(self) -> None:
        while self.buf and not self.closed:
            try:
                n = os.write(self.fd, self.buf)
            except BlockingIOError:
                break
            except OSError:  # EPIPE: nothing reads the container's stdin any more; EIO: its terminal is gone
                self.buf.clear()
                break
            del self.buf[:n]
        if self.eof and not self.buf:
            self.close()
        if self.conn is not None:
            self.conn.input_paused = len(self.buf) > MAX_BUFFERED
        self.on_change()

    def wants_write(self) -> bool:
        return bool(self.buf) and not self.closed

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.buf.clear()
            try:
                os.close(self.fd)
            except OSError:
                pass
        if self.conn is not None:
            self.conn.on_input, self.conn.input_paused = None, False
