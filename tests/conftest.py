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
sys.path.insert(0, str(Path(__file__).parent))

import labkit  # noqa: E402
from labkit.paths import instance  # noqa: E402

import leaks  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
PYTHON = sys.executable


def pytest_report_header(config):
    from labkit.cgroups import layout

    lay = layout()
    return [f"labkit test root: {_root} (instance {instance().tag})",
            f"cgroups: {lay.kind}, driver v{lay.version}; kernel {os.uname().release}"]


def pytest_sessionfinish(session, exitstatus):
    """labkitd stops; the suite's own data root goes with it (one given in LABKIT_TEST_ROOT is left to its owner)."""
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


def pytest_terminal_summary(terminalreporter):
    times = getattr(sys.modules.get("test_notebooks"), "TIMES", {})
    if times:
        each = ", ".join(f"{k} {v:.1f} s" for k, v in times.items())
        terminalreporter.write_line(f"notebooks executed headless in {sum(times.values()):.1f} s ({each})")


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
    for _ in range(150):  # a killed process may take a moment to leave its cgroup, a dead netns its veth
        if not (after - before):
            break
        time.sleep(0.02)
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
