"""The notebooks run headless, top to bottom, in a fresh kernel, with no error output, and leak nothing."""

from __future__ import annotations

import time

import nbformat
import pytest
from nbclient import NotebookClient

from conftest import REPO

NOTEBOOKS = sorted((REPO / "notebooks").glob("[0-9][0-9]-*.ipynb"))
#: Seconds each notebook took; conftest.py prints them at the end of the run.
TIMES: dict[str, float] = {}


def run_notebook(path) -> nbformat.NotebookNode:
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}).execute()
    return nb


def errors_in(nb) -> list[str]:
    found = []
    for i, cell in enumerate(nb.cells):
        for out in cell.get("outputs", []):
            if out.output_type == "error":
                found.append(f"cell {i}: {out.ename}: {out.evalue}")
            elif out.output_type == "stream" and out.name == "stderr" and "Traceback" in out.text:
                found.append(f"cell {i}: traceback on stderr")
    return found


#: Also run in the cgroup v2 VM: the notebooks whose lesson depends on the cgroup version.
IN_V2_VM = {"03-cgroups", "11-isolation-limits"}  # 11: device rules differ by version


@pytest.mark.slow
@pytest.mark.parametrize("path", [pytest.param(p, marks=pytest.mark.v2) if p.stem in IN_V2_VM else p for p in NOTEBOOKS],
                         ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_headless_without_errors(path):
    t0 = time.monotonic()
    nb = run_notebook(path)
    TIMES[path.stem] = time.monotonic() - t0
    assert not errors_in(nb), errors_in(nb)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["03-cgroups", "06-images-and-layers", "07-containers"])
def test_a_notebook_runs_twice_in_a_row(name):
    # It cleans up after itself: the second run meets no container or name left by the first.
    path = REPO / "notebooks" / f"{name}.ipynb"
    for _ in range(2):
        nb = run_notebook(path)
        assert not errors_in(nb), errors_in(nb)


@pytest.mark.slow
def test_the_welcome_notebook_shows_the_doctor_and_a_containers_output():
    """What the first notebook claims, in what it printed when run, not in its source."""
    assert NOTEBOOKS and NOTEBOOKS[0].name == "00-welcome.ipynb"
    nb = run_notebook(NOTEBOOKS[0])
    assert not errors_in(nb), errors_in(nb)
    outputs = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            outputs.append(out.get("text", "") + "".join(str(v) for v in out.get("data", {}).values()))
    text = "\n".join(outputs)
    assert "hello from a container" in text  # lk.run's output, streamed into the cell
    assert "this host can run the lab" in text  # lk.doctor()'s verdict
    assert "✔" in text  # and its checks held


@pytest.mark.slow
def test_the_images_notebook_shows_names_layers_and_the_build():
    """What notebook 06 printed: a name's parts, the two hashes of a layer, the whiteout, the diff, the
    commit's layer count, a second build all from the cache (not only that it ran)."""
    nb = run_notebook(REPO / "notebooks" / "06-images-and-layers.ipynb")
    text = "\n".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
                     if o.output_type == "stream")
    html = "\n".join(o.get("data", {}).get("text/html", "") for c in nb.cells if c.cell_type == "code"
                     for o in c.get("outputs", []) if o.output_type in ("execute_result", "display_data"))
    assert " ".join("busybox registry=docker.io repository=library/busybox tag=latest".split()) in " ".join(text.split())
    assert "the repository name must be lowercase" in text
    assert "layer's diff_id (sha256 of the tar): sha256:" in text
    assert "new blobs in the store: 0" in text  # the same manifest, config and layer: nothing stored twice
    assert "bin/vi in the upper layer: character device 0 0" in text
    assert "<code>/bin/vi</code>" in html or "/bin/vi" in html
    assert "hello from the build context" in text and text.count("Using cache") == 4
    assert "image/png" in str([o.get("data", {}).keys() for c in nb.cells for o in c.get("outputs", [])])
