"""The `labkit` command's quick path: `labkit run` in the time runc takes, by importing nothing.

A Python CLI pays for what it imports before it does anything: labkit's full CLI (argparse, the
option checks, pathlib, json with re) costs ~30 ms before its request leaves, where `runc run`
is done in ~25. So the `labkit` launcher (host/launcher.py, written by `./lab setup`, run with
`python -S -I`) imports this file first, alone (its folder first on sys.path), not as part of the
labkit package (whose __init__ is the notebook API). It uses only modules built into the
interpreter (_socket, _json, posix), sends the command line to labkitd, which parses and checks it
with the full CLI's own parser (daemon/cli_run.py), and copies the container's output as it
comes, as the full client does:

    labkit run --rm busybox echo hi
      -> {"op": "cli_run", "argv": ["run", "--rm", "busybox", "echo", "hi"], "env": {...}}
      <- {"id": "3f9a...", ...}  then frames: [1, 0, 0, 0, size] + b"hi\\n", ..., [3, ...] {"exit_code": 0}

Everything else goes to the full CLI (cli.py), in this same process: other verbs, a terminal or
stdin (-t, -i), --trace, an image to pull first, no labkitd running yet (the full CLI starts one),
and a stream that breaks (the full client attaches again and goes on from the log). Ctrl-C kills
the container, and a closed stdout (`| head -1`) too, with 141, as the full client does.
"""

import _json
import _socket
import posix  # os without its imports (os costs ~0.7 ms of a command that takes ~20)
import sys

REPLY = 3  # the frame of the last reply (daemon/connection.py)


class Fallback(Exception):
    """Hand over to the full CLI (nothing was started)."""


class Broken(Exception):
    """labkitd's stream ended before its last reply."""


class _Decoder:  # what _json's scanner reads its options from (json.JSONDecoder's, without importing json and re)
    strict = True
    object_hook = object_pairs_hook = None
    parse_float, parse_int = float, int
    memo: dict = {}

    @staticmethod
    def parse_constant(name):
        return {"NaN": float("nan"), "Infinity": float("inf"), "-Infinity": float("-inf")}[name]


_scan = _json.make_scanner(_Decoder())


def _loads(data: bytes):
    return _scan(data.decode(), 0)[0]


def _dumps(value) -> str:
    """The few shapes a request has: dicts, lists, strings."""
    if isinstance(value, dict):
        return "{" + ",".join(f"{_json.encode_basestring_ascii(k)}:{_dumps(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ",".join(_dumps(v) for v in value) + "]"
    return _json.encode_basestring_ascii(value)


def environ() -> dict[str, str]:
    return {k.decode(errors="surrogateescape"): v.decode(errors="surrogateescape") for k, v in posix.environ.items()}


def absolute(path: str) -> str:
    """As pathlib's Path(path).absolute(): the working directory before a relative path, "." and
    empty parts dropped, ".." kept: "lab/./x/" -> "/root/lab/x"."""
    if not path.startswith("/"):
        path = posix.getcwd() + "/" + path
    return "/" + "/".join(p for p in path.split("/") if p and p != ".")


def socket_path(env: dict[str, str]) -> str:
    """labkitd's socket for $LABKIT_ROOT, as paths.py's instance() places it."""
    root = env.get("LABKIT_ROOT")
    if not root or absolute(root) == "/var/lib/labkit":
        return "/run/labkit/labkitd.sock"
    return absolute(root) + "/run/labkitd.sock"


class Stream:
    def __init__(self, sock):
        self.sock, self.buf = sock, b""

    def _more(self) -> None:
        try:
            chunk = self.sock.recv(1 << 17)
        except ConnectionError:
            chunk = b""
        if not chunk:
            raise Broken
        self.buf += chunk

    def line(self):
        while b"\n" not in self.buf:
            self._more()
        line, _, self.buf = self.buf.partition(b"\n")
        return _loads(line)

    def frame(self) -> tuple[int, bytes]:
        while True:
            if len(self.buf) >= 8:
                size = int.from_bytes(self.buf[4:8], "big")
                if len(self.buf) >= 8 + size:
                    stream, data, self.buf = self.buf[0], self.buf[8:8 + size], self.buf[8 + size:]
                    return stream, data
            self._more()


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[posix.write(fd, view):]


def _call(path: str, request: dict):
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM | _socket.SOCK_CLOEXEC)
    try:
        sock.connect(path)
    except OSError:
        sock.close()
        raise Fallback("no labkitd") from None
    sock.sendall((_dumps(request) + "\n").encode())
    return sock


def _kill(path: str, cid: str) -> None:
    try:
        _call(path, {"op": "kill", "id": cid, "signal": "KILL"}).close()
    except Fallback:
        pass


def run(argv: list[str], full_paths: list[str]) -> int:
    """`labkit run ...`: its exit code, or Fallback."""
    env = environ()
    path = socket_path(env)
    sock = _call(path, {"op": "cli_run", "argv": argv, "env": env})
    stream = Stream(sock)
    try:
        first = stream.line()
    except Broken:
        sock.close()
        posix.write(2, b"labkit: the container did not start: labkitd stopped before it answered (was the lab reset?)\n")
        return 125
    if "error" in first:
        sock.close()
        err = first["error"]
        kinds = err.get("types") or [err.get("type")]
        if "ImageNotFound" in kinds or "UnknownOperation" in kinds:
            raise Fallback("pull")  # the full client pulls it, then runs (or: a labkitd older than cli_run)
        line = err.get("hint_line") or (f"hint: {err['hint']}" if err.get("hint") else "")  # in this client's language
        posix.write(2, f"labkit: {err.get('message')}\n".encode() + (f"{line}\n".encode() if line else b""))
        return err.get("exit_code") or 125
    if first.get("fallback"):
        sock.close()
        raise Fallback("full")
    if "exit_code" in first and "id" not in first:  # what argparse printed (usage, --help, an error)
        sock.close()
        _write_all(1, first.get("stdout", "").encode())
        _write_all(2, first.get("stderr", "").encode())
        return first["exit_code"]
    if first.get("detached"):
        sock.close()
        _write_all(1, (first["id"] + "\n").encode())
        return 0
    cid, seen = first["id"], {1: 0, 2: 0}
    try:
        while True:
            kind, data = stream.frame()
            if kind == REPLY:
                last = _loads(data)
                break
            seen[kind] = seen.get(kind, 0) + len(data)
            try:
                _write_all(kind, data)
            except BrokenPipeError:
                if kind == 1:  # `| head -1` has what it wanted: end as a pipeline's writer would
                    _kill(path, cid)
                    return 141
    except KeyboardInterrupt:
        _kill(path, cid)
        return 130
    except Broken:  # labkitd was killed: its keeper starts another; the full client attaches again
        sys.path[:0] = full_paths
        from labkit.runtime.client.run import reattach

        try:
            last = reattach(cid, first.get("name") or "", seen)
        except Exception as e:  # noqa: BLE001 - a LabkitError: said as the full CLI says it
            posix.write(2, f"labkit: {getattr(e, 'message', e)}\n".encode()
                     + (f"hint: {e.hint}\n".encode() if getattr(e, "hint", None) else b""))
            return getattr(e, "exit_code", 125)
    finally:
        sock.close()
    if last.get("error"):
        posix.write(2, f"labkit: container {first.get('name') or cid[:12]}: {last['error']}\n".encode())
        return 125
    return last["exit_code"] if last.get("exit_code") is not None else 125


def main(argv: list[str], full_paths: list[str]) -> int | None:
    """The exit code, or None: the full CLI's to do (the launcher has put it on sys.path then)."""
    if argv[:1] == ["run"]:
        try:
            return run(argv, full_paths)
        except Fallback:
            pass
        except KeyboardInterrupt:  # before the container started (after, run() kills it)
            return 130
    sys.path[:0] = full_paths
    return None
