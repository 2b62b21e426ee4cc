"""The image verbs of the `labkit` command, in docker's shape, and where logins are kept.

    labkit pull localhost:5000/team/app:v1       labkit push localhost:5000/team/app:v1
    labkit images                                labkit tag busybox localhost:5000/busybox
    labkit rmi localhost:5000/busybox            labkit history busybox
    labkit image inspect busybox                 labkit login localhost:5000 -u alice
    labkit registry start [--port 5000] [--user alice:s3cret]   labkit registry stop|ls

Logins are kept in auth.json under the data root (mode 0600, root's only), as docker keeps them in
~/.docker/config.json: {"auths": {"localhost:5000": {"auth": "<base64 of alice:s3cret>"}}}.
"""

from __future__ import annotations

import base64
import json
import os
import sys
import time

from ..errors import InvalidArgument
from ..paths import Instance, instance as current_instance
from .reference import familiar, parse
from ..texts import size as size_text
from .store import ImageStore


# -- logins -------------------------------------------------------------------------------------------

def said(field: str, **values) -> str:
    """A line this command prints, from the catalog's "cli.say" entry, in the reader's language."""
    from ..catalog import text

    return text("cli.say", field, **values)

def _auth_file(inst: Instance):
    return inst.root / "auth.json"


def credentials(registry: str, inst: Instance | None = None) -> tuple[str, str] | None:
    """The (user, password) saved for `registry` by `labkit login`, or None."""
    try:
        entry = json.loads(_auth_file(inst or current_instance()).read_text())["auths"][registry]
        user, _, password = base64.b64decode(entry["auth"]).decode().partition(":")
        return user, password
    except (OSError, ValueError, KeyError):
        return None


def login(registry: str, user: str, password: str, inst: Instance | None = None) -> None:
    """Check the credentials against the registry, then keep them (root-only) for pulls and pushes."""
    from .registry import Registry

    if not user or ":" in user or not password:
        raise InvalidArgument("error.images.login-user-name-no")
    inst = inst or current_instance()
    reg = Registry(registry, auth=(user, password))
    try:
        reg.check(reg.request("GET", "/v2/", "registry:catalog:*"), f"log in to {registry}")
    finally:
        reg.close()
    path = _auth_file(inst)
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        data = {"auths": {}}
    data.setdefault("auths", {})[registry] = {"auth": base64.b64encode(f"{user}:{password}".encode()).decode()}
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path.with_suffix(".tmp"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(data, f)
    os.replace(path.with_suffix(".tmp"), path)


# -- what the API calls ---------------------------------------------------------------------------------
def pull(name: str, platform=None, auth=None, progress=None, inst: Instance | None = None):
    from .pull import pull as _pull

    inst = inst or current_instance()
    store = ImageStore(inst)
    img = _pull(name, store, platform=platform, auth=auth or credentials(parse(name).registry, inst),
                progress=progress)
    # Then extract, as docker's pull does: the layers are unpacked here, in the caller's process,
    # so that labkitd's first `run` of the image finds them ready instead of unpacking inside its
    # one loop while every other client waits.
    todo = sum(not store.layer_dir(diff_id).is_dir() for _, diff_id in img.layers)
    bar = None
    if todo and (progress if progress is not None else sys.stderr.isatty() or "ipykernel" in sys.modules):
        from tqdm.auto import tqdm

        bar = tqdm(total=todo, unit="layer", desc=f"{familiar(img.name)} extracting")
    try:
        store.unpack(img, done=bar.update if bar else None)
    finally:
        if bar:
            bar.close()
    return img


def push(name: str, auth=None, inst: Instance | None = None) -> str:
    from .push import push as _push

    inst = inst or current_instance()
    return _push(name, ImageStore(inst), auth=auth or credentials(parse(name).registry, inst))


def in_use(inst: Instance) -> set[str]:
    """The layer directories some container stands on (its config.json's org.labkit.rootfs.lower)."""
    used = set()
    for cfg in inst.containers.glob("*/config.json") if inst.containers.is_dir() else ():
        try:
            lower = json.loads(cfg.read_text()).get("annotations", {}).get("org.labkit.rootfs.lower", "")
        except (OSError, ValueError):
            continue
        used.update(p for p in lower.split(":") if p)
    return used


def rmi(name: str, force: bool = False, inst: Instance | None = None) -> tuple[str, int, int]:
    """Untag `name`, then remove what no image and no container needs: (digest, files, bytes).
    An image a container was made from is refused, as docker refuses it, unless force=True (the
    container keeps its layers either way: gc never removes a layer a container stands on)."""
    from ..errors import Conflict
    from ..runtime import state

    inst = inst or current_instance()
    full = str(parse(name))
    users = [r["name"] for r in state.read_all(inst, {}) if r.get("image") == full]
    if users and not force:
        raise Conflict("error.images.unable-remove-container-uses", familiar=familiar(full), users_0=users[0], f_and_len_users_1_mo=f' (and {len(users) - 1} more)' if len(users) > 1 else '')
    store = ImageStore(inst)
    digest = store.untag(name)
    count, freed = store.gc(in_use(inst))
    return digest, count, freed


# -- the CLI verbs ----------------------------------------------------------------------------------------
def cmd_pull(args) -> int:
    img = pull(args.image, platform=args.platform)
    print(said("pulled-manifest", name=familiar(img.name), id=img.id[7:19], digest=img.digest))
    return 0


def cmd_push(args) -> int:
    digest = push(args.image)
    print(said("pushed-digest", name=parse(args.image).familiar(), digest=digest))
    return 0


def cmd_images(args) -> int:
    store = ImageStore(current_instance())
    rows = []
    from .store import CACHE, CorruptStore

    for name in store.names():
        if name.startswith(CACHE + ":"):
            continue  # a build step's cached image (build.py)
        ref = parse(name)
        try:
            img = store.get(name)
        except CorruptStore:  # one image made wrong by hand: listed as such, the others as ever
            rows.append((familiar(ref.name), ref.tag or "<none>", "<broken>", "", 0))
            continue
        size = sum(store.blob_path(d).stat().st_size for d, _ in img.layers if store.blob_path(d).exists())
        rows.append((familiar(ref.name), ref.tag or "<none>", img.id[7:19], _ago(img.config.get("created")), size))
    if args.quiet:
        print("\n".join(dict.fromkeys(r[2] for r in rows)))
        return 0
    print(f"{'REPOSITORY':<40} {'TAG':<12} {'IMAGE ID':<14} {'CREATED':<16} SIZE")
    for repo, tag, iid, created, size in rows:
        print(f"{repo:<40} {tag:<12} {iid:<14} {created:<16} {size_text(size)}")
    return 0


def cmd_tag(args) -> int:
    ImageStore(current_instance()).alias(args.source, args.target)
    return 0


def cmd_rmi(args) -> int:
    for name in args.images:
        digest, count, freed = rmi(name, force=args.force)
        print(f"Untagged: {parse(name).familiar()}\nDeleted: {count} files ({size_text(freed)}), manifest {digest}")
    return 0


def cmd_history(args) -> int:
    print(f"{'CREATED':<16} {'CREATED BY':<60} {'EMPTY':<6} COMMENT")
    for h in ImageStore(current_instance()).history(args.image):
        by = h.get("created_by", "")
        print(f"{_ago(h.get('created')):<16} {by if len(by) <= 60 else by[:59] + '…':<60} "
              f"{'yes' if h.get('empty_layer') else '':<6} {h.get('comment', '')}")
    return 0


def cmd_image_inspect(args) -> int:
    store = ImageStore(current_instance())
    out = []
    for name in args.images:
        img = store.get(name)
        out.append({"Id": img.id, "RepoTags": [familiar(img.name)], "Manifest": img.digest,
                    "Layers": [{"digest": d, "diff_id": i} for d, i in img.layers], "Config": img.config})
    print(json.dumps(out, indent=2))
    return 0


def cmd_save(args) -> int:
    from .archive import save

    size = save(args.images, args.output, ImageStore(current_instance()))
    print(said("saved", n=len(args.images), path=args.output, size=size_text(size)))
    return 0


def cmd_load(args) -> int:
    from .archive import load

    for name in load(args.input, ImageStore(current_instance())):
        print(f"Loaded image: {familiar(name)}")
    return 0


def cmd_login(args) -> int:
    password = sys.stdin.readline().rstrip("\n") if args.password_stdin else args.password
    if password is None:
        import getpass

        password = getpass.getpass("Password: ")
    login(args.registry, args.username, password)
    print("Login Succeeded")
    return 0


def cmd_registry(args) -> int:
    from . import local_registry

    if args.registry_cmd == "start":
        if args.user and any(":" not in u for u in args.user):  # checked first: "alice" alone is no NAME:PASSWORD
            raise InvalidArgument("error.images.user-takes-name-password")
        users = dict(u.split(":", 1) for u in args.user) if args.user else None
        reg = local_registry.start(port=args.port, users=users)
        print(said("registry-private" if reg.private else "registry-open", url=reg.url, host=reg.host))
    elif args.registry_cmd == "fill":
        reg = local_registry.status()
        for name in local_registry.fill(args.archive, auth=credentials(reg.host) if reg else None):
            print(said("pushed", name=name))
    elif args.registry_cmd == "stop":
        print(said("registry-stopped" if local_registry.stop() else "registry-was-not-running"))
    else:
        reg = local_registry.status()
        if reg is None:
            print(said("registry-not-running"))
            return 0
        print(said("registry-private-at" if reg.private else "registry-at", url=reg.url, pid=reg.pid))
        for repo, tags in reg.repositories(auth=credentials(reg.host)).items():
            print(f"  {reg.host}/{repo}: {', '.join(tags) or said('no-tags')}")
    return 0


def _ago(created: str | None) -> str:
    """An image's created time as docker shows it: "3 minutes ago"; N/A for none, or for a
    reproducible build's 1970 (the default busybox)."""
    from datetime import datetime

    from ..texts import ago

    try:
        then = datetime.fromisoformat((created or "").replace("Z", "+00:00")).timestamp()
    except ValueError:
        return created or "N/A"
    return "N/A" if then < 86400 else f"{ago(time.time() - then)} ago"
