"""The client's side of -i and -t: send input to an attached container, and be its terminal.

    labkit run -it busybox sh          this terminal goes raw (every key, Ctrl-C too, goes to the
                                       container's terminal), its size follows this window's
    echo hi | labkit run -i busybox cat     what this process reads on fd 0 is the container's stdin
    lk.run("busybox", "wc -c", input="hello")   the same from a notebook

Input goes on the run's own connection, after labkitd's first reply (the container runs by then),
from a thread: the output keeps coming meanwhile, so a large input and a large output never wait
on each other. The input's end is a half-close (shutdown(SHUT_WR)): labkitd closes the
container's stdin then (daemon/stdin.py). A window's new size goes as a "resize" request.
"""

from __future__ import annotations

import os
import signal
import socket
import threading


def send_input(sock: socket.socket, source) -> threading.Thread:
    """Copy `source` (bytes, or a file descriptor to read until its end) to the socket, then half-close."""

    def run():
        try:
            if isinstance(source, (bytes, bytearray)):
                sock.sendall(source)
            else:
                while True:
                    data = os.read(source, 65536)
                    if not data:
                        break
                    sock.sendall(data)
            sock.shutdown(socket.SHUT_WR)
        except OSError:  # the run ended first (the container exited): the rest of the input has nowhere to go
            pass

    t = threading.Thread(target=run, name="labkit-stdin", daemon=True)
    t.start()
    return t


class RawTerminal:
    """While in use, fd 0's terminal is raw (no echo, no line editing, no signals from keys: the
    container's own terminal does those), and each SIGWINCH sends the new size to the container."""

    def __init__(self, resize):
        self.resize, self.saved, self.old_handler = resize, None, None

    def __enter__(self):
        import termios
        import tty

        if os.isatty(0):
            self.saved = termios.tcgetattr(0)
            tty.setraw(0)
        if os.isatty(1):
            self.old_handler = signal.signal(signal.SIGWINCH, lambda *_: self.send_size())
            self.send_size()
        return self

    def send_size(self) -> None:
        try:
            cols, rows = os.get_terminal_size(1)
            self.resize(rows, cols)
        except Exception:  # noqa: BLE001 - a size that did not arrive is not worth ending the session for
            pass

    def __exit__(self, *exc):
        import termios

        if self.saved is not None:
            termios.tcsetattr(0, termios.TCSADRAIN, self.saved)
        if self.old_handler is not None:
            signal.signal(signal.SIGWINCH, self.old_handler)
        return False
