"""labkitd's event loop: one thread, one selector, every descriptor registered for what it waits for now.

    fd 3  the listening socket           -> accept a client (a Connection, connection.py)
    fd 7  a client's socket              -> read its request line, then write what waits for it
    fd 9  a container's stdout FIFO      -> the output pump (logs.py)
    fd 11 a starting process's report    -> starts.py
    timers                               -> stop's SIGKILL after -t, a start's deadline

Nothing here waits on anything but select(): a handler that would block is a bug.
"""

from __future__ import annotations

import heapq
import os
import selectors
import signal
import socket
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
        fixed = {self.listener.fileno(): (self, lambda ev: self.accept(self.listener, self._labkit_conn), selectors.EVENT_READ),
                 wake_r: (self, lambda ev: (os.read(wake_r, 4096), self._reap()), selectors.EVENT_READ)}
        if self.keeper_fd is not None:
            fixed[self.keeper_fd] = (self, lambda ev: self._keeper_gone(), selectors.EVENT_READ)
        self.docker_listener = self.docker_listen()  # the Docker Engine API (docker_ops.py)
        if self.docker_listener is not None:
            fixed[self.docker_listener.fileno()] = (self, lambda ev: self.accept(self.docker_listener, self._http_conn), selectors.EVENT_READ)
        self._rewatch(self, fixed)
        self._reap()
        while self.running and not self.orphaned:
            self._update_watch()
            now = time.monotonic()
            # At most a minute of sleep: a timer far away (stop -t 3000000) never overflows select's timeout.
            timeout = min(60.0, max(0.0, self.timers[0][0] - now)) if self.timers else 60.0
            for key, events in self.sel.select(timeout):
                owner, callback, _ = key.data
                if self.watched.get(key.fd, (None,))[0] is not owner:
                    continue  # closed by an earlier event of this same batch
                try:
                    callback(events)
                except Exception:  # noqa: BLE001 - one bad event must not take down every container's server
                    traceback.print_exc()
            now = time.monotonic()
            due = []
            while self.timers and self.timers[0][0] <= now:
                due.append(heapq.heappop(self.timers)[2])
            for cb in due:
                try:
                    cb()
                except Exception:  # noqa: BLE001
                    traceback.print_exc()
            self._expire_requests(now)

    def _keeper_gone(self) -> None:
        self.orphaned = True

    def _update_watch(self) -> None:
        """Bring the selector in line with what changed: each client (its request, its hang-up, room
        for what waits to be sent), each process starting, each container with an attached client
        (its FIFOs are not read while that client has too much waiting), and every owner marked in
        self.dirty since the last pass (a container started, adopted, at end of file, or gone).
        Never every container: a pass costs the same with 10 running or 1,000."""
        owners = set(self.dirty)
        self.dirty.clear()
        owners.update(self.conns.values())
        owners.update(self.starting.values())
        owners.update(self.attached)
        for owner in owners:
            try:
                self._rewatch(owner, self._wants(owner))
            except Exception:  # noqa: BLE001 - a bug in one owner's wants must not end labkitd for everyone
                traceback.print_exc()

    def _rewatch(self, owner, want: dict) -> None:
        """Register `owner`'s descriptors for what it waits for now, and drop those it no longer
        waits on. want: fd -> (owner, callback, events), e.g. {7: (conn, on_event, EVENT_READ)}."""
        for fd in self.owned.pop(owner, set()) - want.keys():
            if self.watched.get(fd, (None,))[0] is owner:
                self._unregister(fd)
        for fd, data in list(want.items()):
            cur = self.watched.get(fd)
            try:
                if cur is None or cur[0] is not owner:
                    if cur is not None:  # the number was another owner's, closed since: it is ours now
                        self._unregister(fd)
                    self.sel.register(fd, data[2], data)
                elif cur[2] != data[2]:
                    self.sel.modify(fd, data[2], data)
            except (KeyError, ValueError, OSError):
                traceback.print_exc()
                want.pop(fd)
                continue
            self.watched[fd] = data
        if want:
            self.owned[owner] = set(want)

    def _unregister(self, fd: int) -> None:
        try:
            self.sel.unregister(fd)
        except (KeyError, ValueError, OSError):
            pass
        self.watched.pop(fd, None)

    def _wants(self, owner) -> dict:
        """What `owner` waits for now (see _rewatch); a client's here, the containers' in supervisor.py."""
        if isinstance(owner, Connection):
            if owner.closed:
                self.conns.pop(owner.fd, None)
                return {}
            events = (0 if owner.read_closed or owner.input_paused else selectors.EVENT_READ) | (
                selectors.EVENT_WRITE if owner.wants_write() else 0)
            if not events:
                return {}  # half-closed, nothing to send now: watched again when something is queued
            return {owner.fd: (owner, lambda ev, c=owner: self._conn_event(c, ev), events)}
        return self._container_wants(owner)

    def _expire_requests(self, now: float) -> None:
        """A client that has not sent its whole request line in REQUEST_TIMEOUT is dropped."""
        for conn in list(self.conns.values()):
            if conn.request is None and not conn.closed and now > conn.deadline:
                conn.refuse("no complete request in time")

    def later(self, seconds: float, callback) -> None:
        """Call `callback` in `seconds`. The timers are a heap, soonest first: every start sets one
        (START_TIMEOUT), so a thousand may wait at once, and a pass looks only at the first."""
        self.timer_seq += 1
        heapq.heappush(self.timers, (time.monotonic() + seconds, self.timer_seq, callback))

    # -- connections ------------------------------------------------------------------------------
    def accept(self, listener, make) -> None:
        """Take the clients waiting on `listener` (labkit's socket, the Docker API's, its TCP port):
        make(sock) -> their Connection, which knows what serves it. At most 64 a turn: a flood of
        connections never starves the rest of the loop."""
        for _ in range(64):
            try:
                sock, _ = listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError:  # EMFILE and friends: the client is refused, the loop goes on
                traceback.print_exc()
                return
            if sock.family == socket.AF_INET:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            conn = make(sock)
            self.conns[conn.fd] = conn

    def _labkit_conn(self, sock) -> Connection:
        conn = Connection(sock)
        conn.serve = self._dispatch
        return conn

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
            conn.refuse(f"labkitd could not read the request: {e}")
            return
        conn.serve(conn)

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


def read_ready(fd: int, limit: int = 65536) -> bytes | None:
    """What a non-blocking descriptor has now: None if nothing yet, b"" at its end (or an error:
    EIO is a terminal with no slave left, and any other means no more either)."""
    try:
        return os.read(fd, limit)
    except BlockingIOError:
        return None
    except OSError:
        return b""
