"""The Docker Engine API's image endpoints: `docker images`, `docker image inspect`, `docker pull`
(and `docker run`'s pull after a 404 on create), over the lab's image store.
"""

from __future__ import annotations

import json

from ... import errors
from ...api import shapes


class DockerImages:
    def _api_images(self, conn, req, ident) -> None:
        from ...images.reference import familiar

        out = {}
        for name in self.store.names():
            img = self.store.get(name)
            row = out.setdefault(img.id, {"Id": img.id, "ParentId": "", "RepoTags": [], "RepoDigests": [],
                                          "Created": 0, "Size": 0, "SharedSize": -1, "Labels": {}, "Containers": -1})
            row["RepoTags"].append(familiar(name))
        conn.respond(200, list(out.values()))

    def _api_pull(self, conn, req, ident) -> None:
        """POST /images/create?fromImage=busybox&tag=latest (`docker pull`, and `docker run` on a 404).
        The lab's offline busybox is made here; an image from a registry on this machine is pulled
        (a local pull takes a fraction of a second); any other is refused with the command to use:
        a pull from the internet inside labkitd's one loop would keep every other client waiting."""
        from ...images import default
        from ...images.pull import pull
        from ...images.reference import normalize, parse
        from ...images.registry import is_local

        name = req.query.get("fromImage", "")
        tag = req.query.get("tag") or ""
        ref = parse(f"{name}:{tag}" if tag and "@" not in name and ":" not in name.rsplit("/", 1)[-1] else name)
        if str(ref) == normalize(default.NAME):
            img = default.build(self.store)
        elif is_local(ref.registry):
            img = pull(str(ref), self.store, progress=False)
            self.store.unpack(img)
        else:
            raise errors.NotPermitted(f"labkitd pulls only from registries on this machine: {ref.familiar()} is at "
                                      f"{ref.registry}", hint=f"pull it first with `labkit pull {ref.familiar()}`, then run it.")
        conn.open_stream(200)
        lines = [{"status": f"Pulling from {ref.repository}", "id": ref.tag or "latest"},
                 {"status": f"Digest: {img.digest}"}, {"status": f"Status: Image is up to date for {ref.familiar()}"}]
        conn.send_raw("".join(json.dumps(x) + "\r\n" for x in lines).encode(), last=True)

    def _api_image_inspect(self, conn, req, name: str) -> None:
        from ...images.reference import familiar

        found, tags = None, []
        for full in self.store.names():
            img = self.store.get(full)
            if name in (img.id, img.id[7:]) or (len(name) >= 12 and img.id[7:].startswith(name.replace("sha256:", ""))):
                found = found or img
                tags.append(familiar(full))
        if found is None:
            try:
                found = self.store.get(name)
                tags = [familiar(n) for n in self.store.names() if self.store.get(n).id == found.id]
            except errors.LabkitError:
                raise errors.ImageNotFound(f"No such image: {name}") from None
        size = sum(self.store.blob_path(d).stat().st_size for d, _ in found.layers if self.store.blob_path(d).exists())
        conn.respond(200, shapes.image_inspect(found, tags, size))

    def _api_image_tag(self, conn, req, name: str) -> None:
        """`docker tag busybox localhost:5000/bb:1`: POST /images/busybox/tag?repo=localhost:5000/bb&tag=1."""
        repo, tag = req.query.get("repo", ""), req.query.get("tag", "")
        if not repo:
            raise errors.InvalidArgument("tag needs a repo")
        self.store.alias(name, f"{repo}:{tag}" if tag else repo)
        conn.respond(201)

    def _api_image_remove(self, conn, req, name: str) -> None:
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

