"""The whole suite runs against the real kernel, as root, in a lab instance of its own.

LABKIT_ROOT is set to a fresh directory (or LABKIT_TEST_ROOT, e.g. a tmpfs in the v2 VM)
before labkit is imported, so the suite never touches an instructor's lab on the same host.
After every test, the leak check fails the test if it left a labkit mount, cgroup, netns,
link, firewall rule or process behind (and cleans them up, so the next test starts clean).
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import pytest

_given_root = os.environ.get("LABKIT_TEST_ROOT")
_root = _given_root or tempfile.mkdtemp(prefix="labkit-test-", dir="/var/tmp")
os.environ["LABKIT_ROOT"] = _root
os.environ["LABKIT_OFFLINE"] = "1"  # registries on this machine only: a test never pulls from the internet
os.environ["LABKIT_LANG"] = "en"  # the texts tests read are English unless a test asks for another (the locale decides otherwise)
sys.path.insert(0, str(Path(__file__).parent))

import labkit  # noqa: E402
from labkit.paths import instance  # noqa: E402

import leaks  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
PYTHON = sys.executable


def pytest_sessionstart(session):
    """The labs already on this machine, seen before any test makes one: their objects are not leaks."""
    if os.geteuid() == 0:
        leaks.others()


def pytest_report_header(config):
    from labkit.cgroups import layout

    lay = layout()
    return [f"labkit test root: {_root} (instance {instance().tag})",
            f"cgroups: {lay.kind}, driver v{lay.version}; kernel {os.uname().release}"]


def pytest_sessionfinish(session, exitstatus):
    """labkitd stops; the suite's own data root goes with it (one given in LABKIT_TEST_ROOT is left to its owner)."""
    _write_times()
    if os.geteuid() == 0 and (instance().run / "labkitd.sock").exists():
        from labkit.runtime.client import labkitd as client

        try:
            client.call("shutdown", reply_timeout=10)
        except Exception:  # noqa: BLE001 - reset below kills it anyway
            pass
    if not _given_root and os.geteuid() == 0:
        import shutil

        labkit.reset()
        shutil.rmtree(_root, ignore_errors=True)


#: each test's time, set-up + call + teardown: {"tests/test_run.py::test_x": 1.23}; written at the end to
#: LABKIT_TEST_TIMES (./lab test's table of the slowest, over both legs)
TIMES: dict[str, float] = {}


def pytest_runtest_logreport(report):
    TIMES[report.nodeid] = TIMES.get(report.nodeid, 0.0) + report.duration


def _write_times() -> None:
    """To the file LABKIT_TEST_TIMES names; "-": one line on stdout, for the v2 VM, whose view of the
    checkout is read-only (./lab picks the line out of the VM's output)."""
    path = os.environ.get("LABKIT_TEST_TIMES")
    if path == "-":
        import json

        print("\nLABKIT-TEST-TIMES " + json.dumps(TIMES), flush=True)
    elif path:
        import json

        try:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            Path(path).write_text(json.dumps(TIMES, indent=0))
        except OSError as e:
            print(f"could not write the tests' times to {path}: {e}", file=sys.stderr)


def pytest_terminal_summary(terminalreporter):
    times = getattr(sys.modules.get("test_notebooks"), "TIMES", {})
    if times:
        each = ", ".join(f"{k} {v:.1f} s" for k, v in times.items())
        terminalreporter.write_line(f"notebooks executed headless in {sum(times.values()):.1f} s ({each})")


# -- a hard limit on every test: a hang is one failed test that names itself, and the run goes on ----------
#: seconds each phase (set-up, the test, teardown) may take unless the test is marked otherwise:
#: @pytest.mark.limit(240) for one that builds a bundle, limit(2) in the suite's test of this. Never above LIMIT_MAX.
#: Under the v2 VM's software emulation (~5x slower) ./lab sets LABKIT_TEST_LIMIT=300: every test gets the most.
LIMIT_MAX = 300
LIMIT_FLOOR = float(os.environ.get("LABKIT_TEST_LIMIT", 0))  # no test's limit below this (the VM: 300)
#: A teardown (the leak check reads iptables, mounts, cgroups, links): 120 s, the floor in the VM.
#: Seen: 120 s was not enough there for iptables-save with the host's CPUs busy.
TEARDOWN_LIMIT = min(max(120.0, LIMIT_FLOOR), LIMIT_MAX)
LIMIT = min(max(120.0, LIMIT_FLOOR), LIMIT_MAX)


class Hung(BaseException):
    """Raised in the test by SIGALRM when its time is up. A BaseException, so a test's own
    `except Exception` cannot swallow it; pytest records it as the test's failure."""


def _limit_of(item) -> float:
    mark = item.get_closest_marker("limit")
    return min(max(float(mark.args[0]), LIMIT_FLOOR), LIMIT_MAX) if mark else LIMIT


def _alarm(item, seconds: float, phase: str):
    def ring(signum, frame):
        import faulthandler

        sys.stderr.write(f"\n{item.nodeid}: its {phase} took more than {seconds:g} s; every thread's stack:\n")
        faulthandler.dump_traceback(file=sys.stderr, all_threads=True)
        raise Hung(f"{item.nodeid}: {phase} still running after {seconds:g} s (the suite's hard limit): it hung")

    return ring


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_setup(item):
    with _limited(item, _limit_of(item), "set-up"):
        yield


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    with _limited(item, _limit_of(item), "test"):
        yield


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item):
    with _limited(item, TEARDOWN_LIMIT, "teardown"):
        yield


class _limited:
    """SIGALRM after `seconds` interrupts whatever the main thread waits in (a read, a select, a
    subprocess) with Hung; should even that not end it (a C call that never returns to Python),
    faulthandler ends the run 60 s later with every stack printed, rather than CI's time running out."""

    def __init__(self, item, seconds: float, phase: str):
        self.item, self.seconds, self.phase = item, seconds, phase

    def __enter__(self):
        import faulthandler
        import signal

        self.old = signal.signal(signal.SIGALRM, _alarm(self.item, self.seconds, self.phase))
        signal.setitimer(signal.ITIMER_REAL, self.seconds)
        faulthandler.dump_traceback_later(self.seconds + 60, exit=True)

    def __exit__(self, *exc):
        import faulthandler
        import signal

        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, self.old)
        faulthandler.cancel_dump_traceback_later()
        return False


def pytest_collection_modifyitems(config, items):
    if os.geteuid() != 0:
        skip = pytest.mark.skip(reason="labkit's suite runs the real kernel features: run it as root (./lab test)")
        for item in items:
            if "unprivileged" not in item.keywords:
                item.add_marker(skip)


def _server_log() -> Path:
    return instance().run / "labkitd.log"


def _log_size() -> int:
    try:
        return _server_log().stat().st_size
    except OSError:
        return 0


@pytest.fixture(autouse=True)
def no_leaks():
    """Fail the test if it left any labkit kernel object behind, or if labkitd or its keeper logged
    a traceback meanwhile (an error labkitd did not expect is a bug, even when the client got an answer)."""
    before = leaks.snapshot()
    log_at = _log_size()
    yield
    try:
        with open(_server_log(), "rb") as f:
            f.seek(log_at if _log_size() >= log_at else 0)  # a reset starts a new log
            logged = f.read().decode(errors="replace")
    except OSError:
        logged = ""
    if "Traceback" in logged:
        pytest.fail("labkitd logged a traceback during this test:\n" + logged[logged.index("Traceback"):][:3000],
                    pytrace=False)
    after = leaks.snapshot()
    # A killed process may take a moment to leave its cgroup, and a dead netns its veth: the kernel
    # tears namespaces down in a worker of its own, which a busy machine (the v2 VM's emulation beside
    # this run) delays by seconds (seen: a veth of the capstone's still there after 3 s).
    settle = time.monotonic() + 10
    while after - before and time.monotonic() < settle:
        time.sleep(0.05)
        after = leaks.snapshot()
    leaked = sorted(after - before)
    if leaked:
        labkit.reset()
        pytest.fail("the test left labkit objects in the kernel:\n  " + "\n  ".join(leaked), pytrace=False)


@pytest.fixture
def inst():
    return instance()


@pytest.fixture(scope="session")
def busybox():
    """The default image, built once for the session."""
    from labkit.images import default
    from labkit.images.store import ImageStore

    return default.build(ImageStore(instance()))


@pytest.fixture
def box(busybox):
    """A list for the containers a test makes: each is removed after the test, whatever happened."""
    made = []
    yield made
    for c in made:
        try:
            c.remove(force=True)
        except labkit.NotFound:
            pass
