"""labkitd's event loop: one thread, one selector, every descriptor registered for what it waits for now.

    fd 3  the listening socket           -> accept a client (a Connection, connection.py)
    fd 7  a client's socket              -> read its request line, then write what waits for it
    fd 9  a container's stdout FIFO      -> the output pump (logs.py)
    fd 11 a starting process's report    -> starts.py
    timers                               -> stop's SIGKILL after -t, a start's deadline

Nothing here waits on anything but select(): a handler that would block is a bug.
"""

from __future__ import annotations

import os
import selectors
import signal
import time
import traceback

from ...errors import InvalidArgument
from .connection import Connection
from .wire import error_reply


class Loop:
    """The loop, the connections and the dispatch of a request to its op_ method."""

    # -- the loop --------------------------------------------------------------------------------
    def serve(self) -> None:
        wake_r, wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        signal.set_wakeup_fd(wake_w)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        signal.signal(signal.SIGTERM, lambda *_: setattr(self, "running", False))
        self.listener.setblocking(False)
        self.wake = (wake_r, wake_w)
        self.fixed = {self.listener.fileno(): (self, lambda ev: self._accept(), selectors.EVENT_READ),
                      wake_r: (self, lambda ev: (os.read(wake_r, 4096), self._reap()), selectors.EVENT_READ)}
        if self.keeper_fd is not None:
            self.fixed[self.keeper_fd] = (self, lambda ev: self._keeper_gone(), selectors.EVENT_READ)
        self._reap()
        while self.running and not self.orphaned:
            self._update_watch()
            now = time.monotonic()
            # At most a minute of sleep: a timer far away (stop -t 3000000) never overflows select's timeout.
            timeout = min(60.0, max(0.0, min(t for t, _ in self.timers) - now)) if self.timers else 60.0
            for key, events in self.sel.select(timeout):
                owner, callback, _ = key.data
                if self.watched.get(key.fd, (None,))[0] is not owner:
                    continue  # closed by an earlier event of this same batch
                try:
                    callback(events)
                except Exception:  # noqa: BLE001 - one bad event must not take down every container's server
                    traceback.print_exc()
            now = time.monotonic()
            due = [cb for t, cb in self.timers if t <= now]
            self.timers = [(t, cb) for t, cb in self.timers if t > now]
            for cb in due:
                try:
                    cb()
                except Exception:  # noqa: BLE001
                    traceback.print_exc()
            self._expire_requests(now)

    def _keeper_gone(self) -> None:
        self.orphaned = True

    def _update_watch(self) -> None:
        """(Re)register every fd for what it waits for now: the listener; each client for its
        request, its hang-up, and room for what waits to be sent; each container's FIFOs unless
        its attached client has too much output waiting. Example entry: fd 7 -> (Pump, callback, EVENT_READ)."""
        want: dict[int, tuple] = dict(self.fixed)
        self._watch_containers(want)  # supervisor.py: the containers' FIFOs, pidfds and starting processes
        for conn in list(self.conns.values()):
            if conn.closed:
                del self.conns[conn.fd]
                continue
            events = selectors.EVENT_READ | (selectors.EVENT_WRITE if conn.wants_write() else 0)
            want[conn.fd] = (conn, lambda ev, c=conn: self._conn_event(c, ev), events)
        for fd, old in self.watched.items():
            new = want.get(fd)
            if new is None or new[0] is not old[0]:
                try:
                    self.sel.unregister(fd)
                except (KeyError, ValueError, OSError):
                    pass
        for fd, data in want.items():
            old = self.watched.get(fd)
            try:
                if old is None or old[0] is not data[0]:
                    self.sel.register(fd, data[2], data)
                elif old[2] != data[2]:
                    self.sel.modify(fd, data[2], data)
            except (KeyError, ValueError, OSError):
                traceback.print_exc()
                want.pop(fd)
        self.watched = want

    def _expire_requests(self, now: float) -> None:
        """A client that has not sent its whole request line in REQUEST_TIMEOUT is dropped."""
        for conn in list(self.conns.values()):
            if conn.request is None and not conn.closed and now > conn.deadline:
                conn.send(error_reply(InvalidArgument("no complete request line in time")), last=True)

    def later(self, seconds: float, callback) -> None:
        self.timers.append((time.monotonic() + seconds, callback))

    # -- connections ------------------------------------------------------------------------------
    def _accept(self) -> None:
        for _ in range(64):  # what has queued up, without letting a flood of connections starve the rest
            try:
                sock, _ = self.listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError:  # EMFILE and friends: the client is refused, the loop goes on
                traceback.print_exc()
                return
            conn = Connection(sock)
            self.conns[conn.fd] = conn

    def _conn_event(self, conn: Connection, events: int) -> None:
        if events & selectors.EVENT_WRITE:
            conn.writable()
        if conn.closed or not events & selectors.EVENT_READ:
            return
        if conn.request is not None:
            conn.readable_after_request()
            return
        try:
            if not conn.read_request():
                return
        except EOFError:
            conn.close()
            return
        except ValueError as e:
            conn.send(error_reply(InvalidArgument(f"labkitd could not read the request: {e}",
                                                  hint="send one JSON object on one line.")), last=True)
            return
        self._dispatch(conn)

    def _dispatch(self, conn: Connection) -> None:
        req, fds = conn.request, conn.fds
        conn.fds = []
        try:
            op = getattr(self, "op_" + str(req.get("op")), None)
            if op is None:
                raise InvalidArgument(f"labkitd has no operation {req.get('op')!r}")
            reply = op(conn, req, fds)
        except Exception as e:  # noqa: BLE001 - every failure goes back to the client as a typed error
            for fd in fds:
                close_fd(fd)
            conn.send(error_reply(e), last=True)
            return
        if reply is not None:
            conn.send(reply, last=True)

    @staticmethod
    def _finish(conn: Connection, reply: dict | None) -> None:
        """The last reply of a deferred request (or none: just close)."""
        if reply is None:
            conn.close()
        else:
            conn.send(reply, last=True)


def close_fd(fd: int) -> None:
    try:
        os.close(fd)
    except OSError:
        pass
