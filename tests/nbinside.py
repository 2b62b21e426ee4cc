"""Run notebooks where a learner of a room runs them: inside a learner's container (test_lxd.py runs
this file there, with the lab bound in read-only). Each notebook runs in a fresh kernel, as shipped,
then with the solutions put in its exercise cells; one JSON line each:

    $ python tests/nbinside.py notebooks/03-cgroups.ipynb
    {"notebook": "03-cgroups", "shipped": [], "solved": [], "unsolved": [], "seconds": [3.1, 3.4]}

"shipped" and "solved" list the cells that raised (a check that did not hold is a CheckFailed);
"unsolved" the exercises that did not say ✔ with their solution in. The solved copy runs from
memory: the checkout is read-only in there.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient


def run(nb, folder: Path) -> None:
    NotebookClient(nb, timeout=300, startup_timeout=120, kernel_name="python3", allow_errors=True,
                   resources={"metadata": {"path": str(folder)}}).execute()


def raised(nb) -> list[str]:
    return [f"cell {i}: {out.ename}: {out.evalue}"[:400] for i, cell in enumerate(nb.cells)
            for out in cell.get("outputs", []) if out.output_type == "error"]


def shown(cell) -> str:
    return "".join(out.get("text", "") + out.get("data", {}).get("text/plain", "") + out.get("data", {}).get("text/html", "")
                   for out in cell.get("outputs", []))


def main(paths: list[str], keep: str | None = None, shipped_too: bool = True) -> None:
    """`keep`: a folder to write each run notebook into (NAME.shipped.ipynb, NAME.solved.ipynb), to read
    after. `shipped_too` False (--solved-only): the run with the solutions alone (the v2 VM, where each
    kernel costs half a minute: the shipped run differs only in the blanks, which are Python's)."""
    from labkit.exercises import ID_LINE, solutions

    for name in paths:
        path = Path(name).resolve()
        t0 = time.monotonic()
        shipped = nbformat.read(path, as_version=4)
        if shipped_too:
            run(shipped, path.parent)
        t1 = time.monotonic()
        solved = nbformat.read(path, as_version=4)
        cells = {m.group(1): i for i, c in enumerate(solved.cells) if c.cell_type == "code" for m in [ID_LINE.search(c.source)] if m}
        answers = solutions(path.stem, "en")
        for ex_id, i in cells.items():
            solved.cells[i].source = answers[ex_id]
        if cells:
            run(solved, path.parent)
        if keep:
            nbformat.write(shipped, Path(keep) / f"{path.stem}.shipped.ipynb")
            nbformat.write(solved, Path(keep) / f"{path.stem}.solved.ipynb")
        print(json.dumps({"notebook": path.stem, "shipped": raised(shipped), "solved": raised(solved) if cells else [],
                          "unsolved": [e for e, i in cells.items() if "✔" not in shown(solved.cells[i])],
                          "seconds": [round(t1 - t0, 1), round(time.monotonic() - t1, 1)]}, ensure_ascii=False), flush=True)


if __name__ == "__main__":
    args = sys.argv[1:]
    keep = args[args.index("--keep") + 1] if "--keep" in args else None
    main([a for a in args if a not in ("--keep", keep, "--solved-only")], keep, "--solved-only" not in args)
