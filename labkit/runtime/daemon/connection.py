"""One client's connection inside labkitd: read without waiting, write without waiting.

labkitd serves every client from one thread, so nothing it does for one client may wait on that
client: not reading its request (a client that sends half a line and stops), not writing its
reply or a container's output (a client whose reader is `| (sleep 20; wc -c)`). Each socket is
non-blocking; what the client has not taken yet waits here, in `out`, and the event loop writes
it when the socket has room. labkitd stops reading a container's output while more than
MAX_PENDING bytes wait for its client, so a slow client makes its container wait, not labkitd grow.

What travels on the socket, one request per connection:

    client -> {"op": "run", "options": {...}, "attach": true}\\n          one JSON line
    labkitd -> {"id": "3f9a...", "name": "brave_curie", ...}\\n           one JSON line (or an error)
    ... and, for an attached run, frames until the end:
    labkitd -> [1, 0, 0, 0, size: 4 bytes big-endian] + bytes            the container's stdout
               [2, 0, 0, 0, size] + bytes                                its stderr
               [3, 0, 0, 0, size] + {"exit_code": 0, ...}                the last reply (JSON), then EOF

The header is the Docker Engine API's for an attached stream without a TTY (stdout 1, stderr 2);
3 is Docker's "system error" stream, used here for the reply that ends the stream. Nothing the
client's descriptors are (a file, /dev/null, a pipe, a terminal) matters to labkitd: the client
copies the frames to them itself.
"""

from __future__ import annotations

import json
import os
import selectors
import socket
import struct
import time

MAX_REQUEST = 1 << 20  # bytes: a request line longer than this is refused
REQUEST_TIMEOUT = 30.0  # seconds a client may take to send its whole request line
MAX_PENDING = 1 << 20  # bytes waiting for a client before its container's output is no longer read
HEADER = struct.Struct(">BxxxI")
STDOUT, STDERR, REPLY = 1, 2, 3


def frame(stream: int, data: bytes) -> bytes:
    """b"hi\\n" on stdout -> b"\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x03hi\\n"."""
    return HEADER.pack(stream, len(data)) + data


class Connection:
    """A client socket in the loop. The loop calls readable()/writable(); labkitd calls send*()."""

    #: what answers its request, set by the listener's factory: labkit's protocol (labkit_protocol.py's
    #: serve) or the Docker Engine API's (docker_api.py's serve, with an HttpConnection)
    serve = None
    read_closed = False  # the client shut down its sending side, and the connection still answers
    input_paused = False  # its container's stdin has too much waiting: do not read more now (stdin.py)

    def __init__(self, sock: socket.socket):
        sock.setblocking(False)
        self.sock = sock
        self.fd = sock.fileno()
        self.inbuf = b""
        self.fds: list[int] = []  # descriptors the client attached to its request (SCM_RIGHTS)
        self.request: dict | None = None
        self.out = bytearray()
        self.closed = False
        self.close_after = False  # close once `out` is written
        self.deadline = time.monotonic() + REQUEST_TIMEOUT
        self.on_hangup: list = []  # callbacks for a client that went away before its last reply
        # A generator of bytes to send, pulled as the client takes them (a log replayed from disk,
        # however long, never sits in memory whole); then `fed` is called once.
        self.feed = None
        self.fed = None
        self.on_input = None  # an attached container's stdin takes what the client sends after its request
        # Input sent before the container started (`docker run -i` sends it once attached): kept for its
        # stdin when keep_input is set, and input_eof if the client's input ended meanwhile (stdin.py).
        self.keep_input, self.input_buf, self.input_eof = False, bytearray(), False

    # -- what the loop should wait for ---------------------------------------------------------------
    def loop_wants(self) -> dict | None:
        """loop.py: reading (its request, its input, its hang-up) unless paused, writing while
        something waits to be sent; None once closed. Asked every pass while it is open."""
        if self.closed:
            return None
        events = (0 if self.read_closed or self.input_paused else selectors.EVENT_READ) | (
            selectors.EVENT_WRITE if self.wants_write() else 0)
        return {self.fd: (self, self.on_event, events)} if events else {}

    def on_event(self, events: int) -> None:
        if events & selectors.EVENT_WRITE:
            self.writable()
        if self.closed or not events & selectors.EVENT_READ:
            return
        if self.request is not None:
            self.readable_after_request()
            return
        try:
            if not self.read_request():
                return
        except EOFError:
            self.close()
            return
        except ValueError as e:
            self.refuse(f"{e}")
            return
        self.serve(self)


    def send_output(self, stream: int, data: bytes, terminal: bool = False) -> None:
        """A container's output for this client: framed (stdout 1, stderr 2), terminal or not."""
        self.send_frame(stream, data)

    def refuse(self, why: str | None) -> None:
        """A request that could not be read (`why`: the parser's words; None: none came in time): the
        error, typed, and the connection ends."""
        from ...catalog import Text
        from ...errors import InvalidArgument
        from .wire import error_reply

        why = Text("error.runtime.bad-request", "late") if why is None else why
        self.send(error_reply(InvalidArgument("error.runtime.bad-request", why=why)), last=True)

    def wants_write(self) -> bool:
        return (bool(self.out) or self.feed is not None) and not self.closed

    def pending(self) -> int:
        return len(self.out)

    # -- events --------------------------------------------------------------------------------------
    def read_request(self) -> bool:
        """Take what the client sent. True once the whole request line is here (self.request);
        raises ValueError for a line too long or not JSON, EOFError if the client hung up first."""
        try:
            chunk, fds, _flags, _addr = socket.recv_fds(self.sock, 65536, 8)
        except (BlockingIOError, InterruptedError):
            return False
        except OSError:
            raise EOFError from None
        self.fds.extend(fds)
        if not chunk:
            raise EOFError
        self.inbuf += chunk
        if b"\n" not in self.inbuf:
            if len(self.inbuf) > MAX_REQUEST:
                raise ValueError(f"the request is longer than {MAX_REQUEST} bytes")
            return False
        line = self.inbuf.split(b"\n", 1)[0]
        req = json.loads(line)
        if not isinstance(req, dict):
            raise ValueError("the request is not a JSON object")
        self.request = req
        return True

    def readable_after_request(self) -> None:
        """Once the request is in, the client sends nothing more, unless it is attached to a
        container's stdin (on_input): then its bytes are the input, and its half-close the input's
        end. Else readable means it hung up (or sent stray bytes, which are dropped)."""
        try:
            data = self.sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not self.take_input(data) and not data:
            self.hangup()

    def take_input(self, data: bytes) -> bool:
        """Bytes the client sent after its request (b"": it shut down its sending side) are an attached
        container's stdin, or kept for it until it starts (keep_input). False if nothing wants them."""
        if self.on_input is not None:
            if not data:
                self.read_closed = True
            self.on_input(data)
            return True
        if self.keep_input:
            self.keep_early_input(data)
            return True
        return False

    def keep_early_input(self, data: bytes) -> None:
        if data:
            self.input_buf += data
            self.input_paused = len(self.input_buf) > MAX_PENDING  # read more once it has a place to go
        else:
            self.read_closed = self.input_eof = True

    def writable(self) -> None:
        if self.closed:
            return
        while self.feed is not None and len(self.out) < (1 << 16):
            chunk = next(self.feed, None)
            if chunk is None:
                self.feed, done, self.fed = None, self.fed, None
                if done:
                    done()  # may queue more, or close
                if self.closed:
                    return
            else:
                self.out += chunk
        if not self.out:
            return
        try:
            n = self.sock.send(self.out)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self.hangup()
            return
        del self.out[:n]
        if not self.out and self.close_after:
            self.close()

    # -- what labkitd says ------------------------------------------------------------------------------
    def send(self, reply: dict, last: bool = False) -> None:
        """Queue a JSON line; with last=True the connection closes once it is written."""
        self._queue(json.dumps(reply).encode() + b"\n", last)

    def send_frame(self, stream: int, data: bytes) -> None:
        self._queue(frame(stream, data), False)

    def send_feed(self, chunks, then) -> None:
        """Send the bytes `chunks` yields as the client takes them, then call `then()`."""
        self.feed, self.fed = iter(chunks), then
        self.writable()

    def send_last_frame(self, reply: dict) -> None:
        self._queue(frame(REPLY, json.dumps(reply).encode()), True)

    def _queue(self, data: bytes, last: bool) -> None:
        if self.closed:
            return
        self.out += data
        self.close_after = self.close_after or last
        self.writable()  # most replies fit the socket's buffer at once: no trip through the loop

    def hangup(self) -> None:
        """The client is gone: drop what it would have got, tell whoever waited on it."""
        callbacks, self.on_hangup = self.on_hangup, []
        self.close()
        for cb in callbacks:
            cb()

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.out.clear()
        for fd in self.fds:
            try:
                os.close(fd)
            except OSError:
                pass
        self.fds = []
        self.sock.close()
