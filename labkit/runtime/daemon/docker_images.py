"""The Docker Engine API's image endpoints: `docker images`, `docker image inspect`, `docker pull`
(and `docker run`'s pull after a 404 on create), over the lab's image store.
"""

from __future__ import annotations

import json
import os
import selectors

from ... import errors
from ...api import filters, shapes
from .loop import read_ready


class DockerImages:
    def __init__(self, api):
        self.api = api
        self.inst, self.store = api.inst, api.store

    def list(self, conn, req, ident) -> None:
        from ...images.reference import familiar

        want = filters.parse(req.query.get("filters"), ("reference", "dangling", "label"))
        filters.check_choice(want, "dangling", ("true", "false", "1", "0"))
        out = {}
        for name in self.store.names():
            try:
                img = self.store.get(name)
            except errors.LabkitError:
                continue  # one image made wrong by hand (`labkit images` lists it as <broken>)
            # every image here has a name (an untagged one is gone), so none is dangling
            if want.get("dangling") and all(v in ("true", "1") for v in want["dangling"]):
                continue
            if "reference" in want and not filters.reference_match(want["reference"], [familiar(name), name]):
                continue
            if not filters.labels_match(want.get("label", []), (img.config.get("config") or {}).get("Labels") or {}):
                continue
            if img.id not in out:
                size = sum(self.store.blob_path(d).stat().st_size for d, _ in img.layers if self.store.blob_path(d).exists())
                out[img.id] = {"Id": img.id, "ParentId": "", "RepoTags": [], "RepoDigests": [],
                               "Created": shapes.epoch(img.config.get("created")), "Size": size, "SharedSize": -1,
                               "Labels": (img.config.get("config") or {}).get("Labels") or {}, "Containers": -1}
            row = out[img.id]
            row["RepoTags"].append(familiar(name))
        conn.respond(200, list(out.values()))

    def pull(self, conn, req, ident) -> None:
        """POST /images/create?fromImage=busybox&tag=latest (`docker pull`, and `docker run` on a 404).
        The lab's offline busybox is made here (no network); any other image is pulled by a helper
        process (images/transfer.py) while the loop serves everyone else, from registries on this
        machine only."""
        from ...images import default
        from ...images.reference import normalize, parse

        name = req.query.get("fromImage", "")
        tag = req.query.get("tag") or ""
        ref = parse(f"{name}:{tag}" if tag and "@" not in name and ":" not in name.rsplit("/", 1)[-1] else name)
        if str(ref) != normalize(default.NAME):
            return self._transfer(conn, req, "pull", str(ref))
        img = default.build(self.store)
        conn.open_stream(200)
        lines = [{"status": f"Pulling from {ref.repository}", "id": ref.tag or "latest"},
                 {"status": f"Digest: {img.digest}"}, {"status": f"Status: Image is up to date for {ref.familiar()}"}]
        conn.send_raw("".join(json.dumps(x) + "\r\n" for x in lines).encode(), last=True)

    def push(self, conn, req, name: str) -> None:
        """POST /images/localhost:5000/bb/push?tag=1 (`docker push localhost:5000/bb:1`)."""
        from ...images.reference import parse

        tag = req.query.get("tag") or ""
        ref = parse(f"{name}:{tag}" if tag else name)
        self.store.get(str(ref))  # ImageNotFound (404) before any stream opens
        self._transfer(conn, req, "push", str(ref))

    def _transfer(self, conn, req, op: str, name: str) -> None:
        import base64
        import subprocess

        from ...helper import interpreter

        try:  # X-Registry-Auth: base64url of {"username": ..., "password": ..., "serveraddress": ...}
            header = req.headers.get("x-registry-auth", "")
            auth = json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4))) if header else {}
        except ValueError:
            auth = {}
        proc = subprocess.Popen([*interpreter("labkit.images.transfer"), op, name, str(self.inst.root)],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, close_fds=True)
        try:
            proc.stdin.write(json.dumps(auth if isinstance(auth, dict) else {}).encode())
        finally:
            proc.stdin.close()
        conn.open_stream(200)
        t = Transfer(proc, conn)  # the transfer goes on to its end if the client goes, as dockerd's does
        self.api.transfers.add(t)
        self.api.loop.poll(t)  # until it is over (loop_wants says None)

    def inspect(self, conn, req, name: str) -> None:
        from ...images.reference import familiar

        found, tags = None, []
        for full in self.store.names():
            try:
                img = self.store.get(full)
            except errors.LabkitError:
                continue
            if name in (img.id, img.id[7:]) or (len(name) >= 12 and img.id[7:].startswith(name.replace("sha256:", ""))):
                found = found or img
                tags.append(familiar(full))
        if found is None:
            try:
                found = self.store.get(name)
                tags = [familiar(n) for n in self.store.names() if self.store.get(n).id == found.id]
            except errors.LabkitError:
                raise errors.ImageNotFound("error.runtime.no-such-image-2", name=name) from None
        size = sum(self.store.blob_path(d).stat().st_size for d, _ in found.layers if self.store.blob_path(d).exists())
        conn.respond(200, shapes.image_inspect(found, tags, size))

    def tag(self, conn, req, name: str) -> None:
        """`docker tag busybox localhost:5000/bb:1`: POST /images/busybox/tag?repo=localhost:5000/bb&tag=1."""
        repo, tag = req.query.get("repo", ""), req.query.get("tag", "")
        if not repo:
            raise errors.InvalidArgument("error.runtime.tag-needs-repo")
        self.store.alias(name, f"{repo}:{tag}" if tag else repo)
        conn.respond(201)

    def remove(self, conn, req, name: str) -> None:
        """`docker rmi NAME`: untag it, and remove what nothing else needs (images/commands.py's rmi,
        which refuses an image a container was made from unless force)."""
        from ...images.commands import rmi
        from ...images.reference import familiar, normalize

        try:
            full = normalize(name)
        except errors.LabkitError:
            full = name
        digest, _files, _bytes = rmi(name, force=req.flag("force"), inst=self.inst)
        conn.respond(200, [{"Untagged": familiar(full)}, {"Deleted": digest}])



class Transfer:
    """A pull or push helper (images/transfer.py) whose JSON lines labkitd copies to its client."""

    def __init__(self, proc, conn):
        self.proc, self.conn = proc, conn
        self.fd = proc.stdout.fileno()
        os.set_blocking(self.fd, False)
        self.done = False

    def loop_wants(self) -> dict | None:
        """What to watch now; None once it is over."""
        return None if self.done else {self.fd: (self, lambda ev: self.readable(), selectors.EVENT_READ)}

    def readable(self) -> None:
        if self.done:  # its end was handled earlier in the same pass of the loop
            return
        data = read_ready(self.fd)
        if data is None:
            return
        if data:
            self.conn.send_raw(data)
            return
        self.done = True
        self.proc.stdout.close()
        self.conn.send_last_frame({})  # the end of the stream
