"""labkitd's event loop: one thread, one selector, every descriptor registered for what its owner
waits for now. It knows owners and connections, not protocols and not containers.

    fd 3  a listening socket             -> accept(): a Connection, made by that listener's factory
    fd 7  a client's socket              -> the Connection reads its request, then writes what waits for it
    fd 9  a container's stdout FIFO      -> the output pump (pump.py), through the container's Live
    fd 11 a starting process's report    -> starts.py
    timers                               -> stop's SIGKILL after -t, a start's deadline, stats' next sample

An owner is anything with loop_wants() -> {fd: (owner, callback(events), EVENT_READ or _WRITE)},
or None once it is over. The loop asks an owner again when it was touch()ed, and every pass while
it is polled (a connection, a starting process, a container whose client is slow): never every
owner, so a pass costs the same with 10 containers running or 1,000.

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


class Loop:
    def __init__(self):
        self.sel = selectors.DefaultSelector()
        self.watched: dict[int, tuple] = {}  # fd -> (owner, callback, events) registered in `sel`
        self.owned: dict[object, set[int]] = {}  # owner -> its fds there
        self.dirty: set = set()  # owners whose wants may have changed since the last pass
        self.polled: set = set()  # owners asked every pass
        self.conns: set = set()  # the clients' connections (a request not read in time is refused)
        self.timers: list[tuple[float, int, object]] = []  # a heap of (monotonic deadline, sequence, callback)
        self.timer_seq = 0
        self.running = True
        self.wake: tuple[int, int] | None = None
        self.on_signal = None  # called after a signal woke the loop (labkitd: SIGCHLD, reap)

    # -- what owners ask of it -------------------------------------------------------------------------
    def touch(self, owner) -> None:
        """Ask `owner` for its wants at the next pass (something it waits for changed)."""
        self.dirty.add(owner)

    def poll(self, owner) -> None:
        self.polled.add(owner)

    def unpoll(self, owner) -> None:
        self.polled.discard(owner)

    def forget(self, owner) -> None:
        """`owner` is over: out of the selector now, before its descriptors close."""
        self.rewatch(owner, {})
        self.polled.discard(owner)
        self.dirty.discard(owner)

    def later(self, seconds: float, callback) -> None:
        """Call `callback` in `seconds`. The timers are a heap, soonest first: every start sets one
        (its deadline), so a thousand may wait at once, and a pass looks only at the first."""
        self.timer_seq += 1
        heapq.heappush(self.timers, (time.monotonic() + seconds, self.timer_seq, callback))

    def listen(self, listener: socket.socket, make) -> "Listener":
        """Accept clients on `listener`; make(sock) -> their Connection, which knows what serves it."""
        owner = Listener(self, listener, make)
        self.touch(owner)
        return owner

    def watch_fd(self, fd: int, callback) -> None:
        """A descriptor watched for reading as long as the loop runs (the wake-up pipe, a pidfd)."""
        owner = _Fixed(fd, callback)
        self.touch(owner)

    # -- the loop --------------------------------------------------------------------------------------
    def serve(self, stop=lambda: False) -> None:
        """Run until stop() or SIGTERM. SIGCHLD and SIGTERM wake select() through a pipe."""
        wake_r, wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self.wake = (wake_r, wake_w)
        signal.set_wakeup_fd(wake_w)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        signal.signal(signal.SIGTERM, lambda *_: setattr(self, "running", False))
        self.watch_fd(wake_r, self._woken)
        self._woken()
        while self.running and not stop():
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
            for conn in [c for c in self.conns if c.request is None and not c.closed and now > c.deadline]:
                conn.refuse(None)  # no complete request in time

    def _woken(self, events: int = 0) -> None:
        try:
            os.read(self.wake[0], 4096)
        except BlockingIOError:
            pass
        if self.on_signal is not None:
            self.on_signal()

    def _update_watch(self) -> None:
        owners = self.dirty | self.polled
        self.dirty = set()
        for owner in owners:
            try:
                want = owner.loop_wants()
            except Exception:  # noqa: BLE001 - a bug in one owner's wants must not end labkitd for everyone
                traceback.print_exc()
                continue
            if want is None:  # over
                self.polled.discard(owner)
                self.conns.discard(owner)
                want = {}
            self.rewatch(owner, want)

    def rewatch(self, owner, want: dict) -> None:
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

    def close(self) -> None:
        """Let go of every connection and descriptor of the loop's own (labkitd's end, or its
        becoming the keeper): clients see their stream end."""
        for conn in list(self.conns):
            conn.close()
        self.conns, self.polled, self.dirty, self.timers = set(), set(), set(), []
        self.watched, self.owned = {}, {}
        self.sel.close()
        signal.set_wakeup_fd(-1)
        for fd in self.wake or ():
            close_fd(fd)
        self.wake = None


class Listener:
    """A listening socket in the loop: at most 64 clients a turn, so a flood of connections never
    starves the rest of the loop."""

    def __init__(self, loop: Loop, sock: socket.socket, make):
        self.loop, self.sock, self.make = loop, sock, make
        sock.setblocking(False)
        self.closed = False

    def loop_wants(self) -> dict | None:
        return None if self.closed else {self.sock.fileno(): (self, self.accept, selectors.EVENT_READ)}

    def accept(self, events: int = 0) -> None:
        for _ in range(64):
            try:
                sock, _ = self.sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError:  # EMFILE and friends: the client is refused, the loop goes on
                traceback.print_exc()
                return
            if sock.family == socket.AF_INET:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            conn = self.make(sock)
            self.loop.conns.add(conn)
            self.loop.poll(conn)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.loop.forget(self)
            self.sock.close()


class _Fixed:
    def __init__(self, fd: int, callback):
        self.fd, self.callback = fd, callback

    def loop_wants(self) -> dict:
        return {self.fd: (self, self.callback, selectors.EVENT_READ)}


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
