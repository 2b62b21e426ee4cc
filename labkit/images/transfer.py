"""A pull or a push for labkitd's Docker API, in a process of its own: a transfer takes as long as
the registry takes, and labkitd's one loop serves every other client meanwhile.

    python -I -S -c '...transfer import main; main()' pull localhost:5000/team/app:1 /var/lib/labkit
    stdin:  {"username": "...", "password": "..."} or {} (docker's X-Registry-Auth, decoded)
    stdout: one JSON line per step, in the Docker API's progress shape, then the end:
            {"status": "Pulling from team/app", "id": "1"}
            {"status": "Digest: sha256:3f9a..."}
            {"status": "Status: Downloaded newer image for localhost:5000/team/app:1"}
            or {"errorDetail": {"message": "..."}, "error": "..."}

labkitd (docker_images.py) copies the lines to the client as they come. Only registries on this
machine are pulled from or pushed to here (images/registry.py's is_local): the lab's traffic stays
on the machine; `labkit pull` is the way to fetch from anywhere else.
"""

from __future__ import annotations

import json
import sys


def say(**line) -> None:
    sys.stdout.write(json.dumps(line) + "\r\n")
    sys.stdout.flush()


def run(op: str, name: str, root: str, auth) -> None:
    from ..errors import LabkitError, NotPermitted
    from ..paths import instance
    from .reference import parse
    from .registry import is_local
    from .store import ImageStore

    from .commands import credentials

    inst = instance(root)
    store = ImageStore(inst)
    try:
        ref = parse(name)
        auth = (auth["username"], auth.get("password", "")) if auth and auth.get("username") else \
            credentials(ref.registry, inst)  # the client's, else what `labkit login` saved
        if not is_local(ref.registry):
            raise NotPermitted("error.images.labkitd-s-registries-machine", op=op, from_if_op_pull_else='from' if op == 'pull' else 'to', familiar=ref.familiar(), registry=ref.registry)
        if op == "pull":
            from .pull import pull

            say(status=f"Pulling from {ref.repository}", id=ref.tag or "latest")
            img = pull(str(ref), store, auth=auth, progress=False)
            store.unpack(img)
            say(status=f"Digest: {img.digest}")
            say(status=f"Status: Downloaded newer image for {ref.familiar()}")
        else:
            from .push import push

            say(status=f"The push refers to repository [{ref.registry}/{ref.repository}]")
            digest = push(str(ref), store, auth=auth)
            size = store.blob_path(store.get(str(ref)).digest).stat().st_size
            say(status=f"{ref.tag or 'latest'}: digest: {digest} size: {size}")
    except LabkitError as e:
        say(errorDetail={"message": e.message}, error=e.message, kind=type(e).__name__)


def main() -> None:
    op, name, root = sys.argv[1:4]
    try:
        auth = json.loads(sys.stdin.read() or "{}") or None
    except ValueError:
        auth = None
    try:
        run(op, name, root, auth)
    except Exception as e:  # noqa: BLE001 - a bug must end the client's stream with a message, not a hang
        say(errorDetail={"message": f"{op} failed: {type(e).__name__}: {e}"}, error=str(e))
