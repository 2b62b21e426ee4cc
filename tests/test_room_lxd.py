"""The room's LXD client (labkit/room/lxd.py) against a real LXD: the tests' own (tests/lxdhost.py),
gone afterwards. Where lxd cannot run, the tests say why and skip."""

from __future__ import annotations

from pathlib import Path

import pytest

from labkit.errors import Conflict, FeatureMissing, InvalidArgument, NotFound
from labkit.room.lxd import Lxd as Api
from lxdhost import Lxd, Unavailable, missing

pytestmark = [pytest.mark.slow, pytest.mark.skipif(bool(missing()), reason=missing() or "-"), pytest.mark.limit(300)]


@pytest.fixture(scope="module")
def lxd():
    host = Lxd()
    try:
        host.__enter__()
    except Unavailable as e:
        pytest.skip(f"lxd could not start on this machine: {str(e)[-300:]}")
    try:
        yield host
    finally:
        host.__exit__()
    assert not host.left(), host.left()


@pytest.fixture(scope="module")
def api(lxd):
    return Api(lxd.dir / "unix.socket")


class Counting(Api):
    """The client, counting its requests: a refused name must cost none."""

    sent = 0

    def request(self, *a, **kw):
        Counting.sent += 1
        return super().request(*a, **kw)


def test_an_instance_is_made_with_its_limits_started_run_in_read_and_removed(lxd, api):
    name = f"labkit-probe-{lxd.token}"
    api.create(name, "learner", config={"raw.lxc": "lxc.init.cmd = /bin/sleep infinity", "limits.memory": "256MiB",
                                        "limits.processes": "100"})
    try:
        assert name in api.names() and api.info(name)["config"]["limits.memory"] == "256MiB"
        with pytest.raises(Conflict):
            api.create(name, "learner")
        api.start(name)
        u = api.usage(name)
        assert u.status == "Running" and u.memory > 0 and u.processes >= 1
        # LXD wrote the limit into the container's group, seen from the host (v1: the pids hierarchy's)
        limit = [p for p in (Path(f"/sys/fs/cgroup/pids/lxc.payload.{name}/pids.max"), Path(f"/sys/fs/cgroup/lxc.payload.{name}/pids.max"))
                 if p.exists()]
        assert limit and limit[0].read_text().strip() == "100", limit
        done = api.exec(name, ["sh", "-c", "echo to-stderr >&2; echo $GREETING; exit 3"], env={"GREETING": "hi"})
        assert done.code == 3 and done.stdout == b"hi\n" and done.stderr == b"to-stderr\n", done
        # the record of each exec is read, then removed from LXD's logs
        assert not [f for f in (lxd.dir / "logs" / name).glob("exec_*")], list((lxd.dir / "logs" / name).iterdir())
        assert api.exec(name, ["sh", "-c", "echo 'a learner wrote this' > /root/progress.json"]).code == 0
        assert api.read(name, "/root/progress.json") == b"a learner wrote this\n"
        with pytest.raises(NotFound):
            api.read(name, "/root/nothing-here")
    finally:
        api.delete(name)
    assert name not in api.names()
    with pytest.raises(NotFound):
        api.info(name)


def test_a_name_lxd_would_refuse_is_refused_before_any_request(api):
    c = Counting(api.path)
    for bad in ("bad_name", "-lead", "trail-", "1st", "x" * 64, "", "../1.0/instances"):
        with pytest.raises(InvalidArgument):
            c.create(bad, "learner")
        with pytest.raises(InvalidArgument):
            c.exec(bad, ["true"])
    assert Counting.sent == 0


def test_without_lxd_the_error_says_how_to_start_one(tmp_path):
    with pytest.raises(FeatureMissing) as e:
        Api(tmp_path / "unix.socket").names()
    assert "no socket" in str(e.value) and "./lab room start" in str(e.value)


def test_a_single_lxd_is_no_cluster(api):
    assert api.members() == []
