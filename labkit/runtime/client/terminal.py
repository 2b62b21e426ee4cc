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

from . import labkitd


def _feed(source, write, done, name: str) -> threading.Thread:
    """In a thread: `source` (bytes, or a descriptor read to its end) through write(data), then done()."""

    def run():
        try:
            if isinstance(source, (bytes, bytearray)):
                write(bytes(source))
            else:
                while data := os.read(source, 65536):
                    write(data)
        except OSError:  # the process inside went first: the rest of the input has nowhere to go
            pass
        finally:
            try:
                done()
            except OSError:
                pass

    t = threading.Thread(target=run, name=name, daemon=True)
    t.start()
    return t


def send_input(sock: socket.socket, source) -> threading.Thread:
    """A run's input (-i, input=): on its own connection, then a half-close (the input's end)."""
    return _feed(source, sock.sendall, lambda: sock.shutdown(socket.SHUT_WR), "labkit-stdin")


def send_fd_input(fd: int, source) -> threading.Thread:
    """An exec's input (-i): into the pipe `fd`, then closed."""
    return _feed(source, lambda data: write_all(fd, data), lambda: os.close(fd), "labkit-exec-stdin")


def window_size() -> list[int] | None:
    """This window's [rows, columns] (stdout's terminal), or None when stdout is no terminal."""
    try:
        cols, rows = os.get_terminal_size(1)
    except OSError:
        return None
    return [rows, cols]


def exec_in_terminal(inst, cid: str, args, interactive: bool = True, **request) -> int:
    """`labkit exec -it`: the process inside makes a terminal in the container's /dev/pts and sends
    its master here over a console socket (container/console.py): this terminal's keys go in, raw,
    and what it prints comes out. Its size follows this window's (TIOCSWINSZ on the master, here:
    no request to labkitd needed). Returns the exit code."""
    import selectors

    from ..container.console import receive_master, resize
    from ..daemon.loop import read_ready

    size = window_size()  # the terminal is made at this window's size: no resize after the start to race it
    if size:
        request.setdefault("console_size", size)
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        conn = labkitd.open_call("exec", fds=(theirs.fileno(),), inst=inst, id=cid, args=list(args), tty=True, **request)
    except BaseException:
        ours.close()
        raise
    finally:
        theirs.close()
    with conn:
        try:
            conn.reply()  # it runs: its terminal's master came over the console socket before its exec
            master = receive_master(ours)
        finally:
            ours.close()
        sel = selectors.DefaultSelector()
        sel.register(master, selectors.EVENT_READ)
        try:
            if interactive:  # -t alone: a terminal, but no input (docker's too)
                sel.register(0, selectors.EVENT_READ)
        except (ValueError, OSError):  # stdin closed, or a file (epoll takes no regular files): no input
            pass
        try:
            with RawTerminal(lambda rows, cols: resize(master, rows, cols)):
                done = False
                while not done:
                    for key, _ in sel.select():
                        if key.fd == master:
                            data = read_ready(master)
                            if data is None:  # nothing after all (the master is non-blocking)
                                continue
                            if not data:  # EIO: no process holds the terminal any more
                                done = True
                                break
                            write_all(1, data)
                        else:
                            data = os.read(0, 65536)
                            if not data:
                                sel.unregister(0)
                                continue
                            write_all(master, data)
        finally:
            sel.close()
            os.close(master)
        return conn.reply()["exit_code"]


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


def write_all(fd: int, data: bytes) -> None:
    """Write all of `data`, also to a non-blocking descriptor (waiting for room)."""
    import select

    view = memoryview(data)
    while view:
        try:
            view = view[os.write(fd, view):]
        except BlockingIOError:
            select.select([], [fd], [])
