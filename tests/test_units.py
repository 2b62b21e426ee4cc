"""Human units in, with clear errors."""

from __future__ import annotations

import pytest

from labkit.cgroups.units import format_bytes, parse_bytes, parse_count
from labkit.errors import InvalidArgument


@pytest.mark.parametrize("text,n", [("64M", 64 << 20), ("64m", 64 << 20), ("1.5G", 3 << 29), ("512KiB", 512 << 10),
                                    ("100", 100), (4096, 4096), ("2 GB", 2 << 30), ("1t", 1 << 40)])
def test_sizes(text, n):
    assert parse_bytes(text) == n


@pytest.mark.parametrize("bad", ["0", "-1M", "12X", "M", "", "1..5G", 0, -3, True])
def test_bad_sizes_are_refused_with_a_hint(bad):
    with pytest.raises(InvalidArgument) as e:
        parse_bytes(bad)
    assert e.value.hint


@pytest.mark.parametrize("bad", ["0", "-2", "two", 1.5, None, ""])
def test_bad_counts_are_refused(bad):
    with pytest.raises(InvalidArgument):
        parse_count(bad)


def test_format_bytes():
    assert (format_bytes(1536), format_bytes(64 << 20), format_bytes(10)) == ("1.5KiB", "64MiB", "10B")


# -- the one options type: lk.run's names on both sides of labkitd's socket ---------------------------------
def test_options_travel_in_their_checked_form_and_come_back_the_same():
    import json

    from labkit.runtime.options import Options

    opts = Options.check("busybox", "echo hi", rm=True, memory="64M", cpus=0.5, pids_limit=20, user="65534",
                         ports=["8080:80", "127.0.0.1:5353:53/udp"], volumes=["/srv:/site:ro"], env={"A": "1"})
    wire = json.loads(json.dumps(opts.to_json()))  # as it crosses the socket: tuples become lists
    assert wire["memory"] == 64 << 20 and wire["cpus"] == 0.5 and wire["pids_limit"] == 20 and wire["rm"] is True
    back = Options.from_json(wire)
    assert json.loads(json.dumps(back.to_json())) == wire
    assert back.resources() == {"memory": 64 << 20, "cpu_quota": 50000, "pids": 20}  # the cgroup's settings, once


@pytest.mark.parametrize("change,words", [
    ({"ports": [{"proto": "tcp", "host_ip": "", "host_port": 0, "port": 80}]}, "is not one"),
    ({"ports": [{"proto": "sctp", "host_ip": "", "host_port": 8080, "port": 80}]}, "is not one"),
    ({"ports": [{"proto": "tcp", "host_ip": "", "host_port": 8080, "port": 80}] * 2}, "published twice"),
    ({"ports": "8080:80"}, "not a list"),
    ({"memory": "64M"}, "not a whole number"),
    ({"memory": 1}, "minimum"),
    ({"user": [0]}, "[uid, gid]"),
    ({"auto_remove": True}, "unknown options"),
    ({"rm": "yes"}, "not true or false"),
])
def test_labkitd_refuses_options_a_client_did_not_check(change, words):
    """A hand-made request (any process that reaches the socket) is checked as lk.run's arguments are."""
    from labkit.runtime.options import Options

    wire = dict(Options.check("busybox", "true").to_json(), **change)
    with pytest.raises(InvalidArgument, match=words.replace("[", r"\[").replace("]", r"\]")):
        Options.from_json(wire)


def test_an_exec_stream_finished_in_a_pass_ignores_that_pass_s_later_events_for_its_pipes():
    """docker exec: the exit (SIGCHLD) and the pipes' end can come in one select() batch. finish()
    reads what is left and closes the pipes; a readable event of that same batch must then touch
    nothing: the number may already be another file's (seen as EBADF in labkitd's log)."""
    import os

    from labkit.runtime.daemon.docker_exec import ExecStream

    class Sink:
        closed = False

        def __init__(self):
            self.frames = []

        def send_frame(self, n, data):
            self.frames.append((n, data))

        def send_last_frame(self, reply):
            self.frames.append((3, reply))

    class Loop:
        forgotten = []

        def forget(self, owner):
            self.forgotten.append(owner)

    r, w = os.pipe()
    os.write(w, b"last words\n")
    os.close(w)
    sink, loop = Sink(), Loop()
    stream = ExecStream(loop, sink, {r: 1})
    stream.finish()
    assert sink.frames == [(1, b"last words\n"), (3, {})] and loop.forgotten == [stream]
    other_r, other_w = os.pipe()  # the freed number, taken again at once, as the kernel does
    try:
        assert other_r == r
        os.set_blocking(other_r, False)
        os.write(other_w, b"x")
        assert stream.readable(r) is False
        assert os.read(other_r, 1) == b"x" and sink.frames[-1] == (3, {})  # not read, not sent on, still open
    finally:
        os.close(other_r)
        os.close(other_w)
