"""`build`: an image from a Dockerfile, one instruction at a time, each a layer or a config change.

    lk.build("path/to/context", tag="localhost/hello:1")      # reads path/to/context/Dockerfile

The instructions labkit knows, and what each makes:

    FROM busybox                     the start: that image's layers and config (pulled if missing)
    RUN echo hi > /greeting          a container of the image so far runs it; its upper directory,
                                     committed, is the new layer (commit.py)
    COPY hello.txt /srv/             a layer made straight from the context's files (no container)
    ADD  site.tar /srv/              as COPY; a local tar archive is unpacked into the destination
    ENV K=v   WORKDIR /srv   USER 65534   LABEL k=v   EXPOSE 80   CMD [...]   ENTRYPOINT [...]
                                     the config only: no layer, a history entry marked empty_layer

The build cache is docker's idea: a step whose parent image, instruction and (for COPY/ADD) files'
contents are those of an earlier build is not run again; its image is reused ("Using cache").
Each cached step's image is kept under localhost/labkit-build-cache:<key>, which `labkit images`
does not list and `labkit rmi` of it lets go.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shlex
import tarfile
from pathlib import Path

from ..errors import InvalidArgument, LabkitError
from .reference import familiar, normalize
from .store import CACHE, ImageStore

KNOWN = ("FROM", "RUN", "COPY", "ADD", "ENV", "WORKDIR", "USER", "LABEL", "EXPOSE", "CMD", "ENTRYPOINT")


class BuildError(LabkitError):
    """A Dockerfile's step failed."""


def parse(text: str) -> list[tuple[int, str, str]]:
    """(line number, INSTRUCTION, arguments) for each instruction; continuation lines joined."""
    steps, buf, start = [], "", 0
    for n, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not buf and (not stripped or stripped.startswith("#")):
            continue
        if not buf:
            start = n
        if stripped.endswith("\\"):
            buf += stripped[:-1] + " "
            continue
        buf += stripped
        word, _, rest = buf.partition(" ")
        if word.upper() not in KNOWN:
            raise InvalidArgument("error.images.dockerfile-line-unknown-instruction", start=start, word=word, join=', '.join(KNOWN))
        steps.append((start, word.upper(), rest.strip()))
        buf = ""
    if not steps or steps[0][1] != "FROM":
        raise InvalidArgument("error.images.dockerfile-starts-from")
    return steps


def _json_or_shell(args: str) -> list[str]:
    """CMD ["a", "b"] (exec form) -> ["a", "b"]; CMD a b (shell form) -> ["/bin/sh", "-c", "a b"]."""
    if args.startswith("["):
        try:
            value = json.loads(args)
            if isinstance(value, list) and all(isinstance(v, str) for v in value):
                return value
        except ValueError:
            pass
    return ["/bin/sh", "-c", args]


def _pairs(args: str) -> dict[str, str]:
    """ENV/LABEL's K=v K2="v 2", or the old `ENV K v` form."""
    words = shlex.split(args)
    if words and "=" not in words[0]:
        return {words[0]: " ".join(words[1:])}
    return dict(w.split("=", 1) for w in words if "=" in w)


def build(context: str | os.PathLike, store: ImageStore, *, run, tag: str | None = None, dockerfile: str = "Dockerfile",
          out=print) -> str:
    """Build the image; returns its full name (`tag`, else localhost/labkit-build:<id12>).
    out(line): each line of docker's classic output. run(image, args, env, workdir, user) -> the
    container whose upper directory becomes the RUN layer (the client's run_step: images/ runs no
    container itself, it is given how)."""
    context = Path(context)
    path = context / dockerfile
    try:
        steps = parse(path.read_text())
    except FileNotFoundError:
        raise InvalidArgument("error.images.no", dockerfile=dockerfile, context=context) from None
    target = normalize(tag) if tag else None
    current = None
    for i, (line, op, args) in enumerate(steps, 1):
        out(f"Step {i}/{len(steps)} : {op} {args}")
        if op == "FROM":
            current = _from(store, args)
        else:
            key = _cache_key(store, current, op, args, context)
            cached = f"{CACHE}:{key}"
            if cached in store.names():
                out(" ---> Using cache")
                current = cached
            else:
                current = _step(store, current, op, args, context, cached, out, run)
        out(f" ---> {store.get(current).id[7:19]}")
    img = store.get(current)
    name = target or normalize(f"localhost/labkit-build:{img.id[7:19]}")
    store.alias(current, name)
    out(f"Successfully built {img.id[7:19]}")
    out(f"Successfully tagged {familiar(name)}")
    return name


def _from(store: ImageStore, args: str) -> str:
    from ..errors import ImageNotFound
    from . import default

    name = normalize(args.split()[0])
    try:
        default.get_or_build(store, name)  # FROM busybox on a fresh lab: made offline, as run makes it
    except ImageNotFound:
        from .commands import pull

        pull(name, inst=store.inst)
    return name


def _cache_key(store: ImageStore, parent: str, op: str, args: str, context: Path) -> str:
    h = hashlib.sha256(f"{store.get(parent).id}\n{op} {args}\n".encode())
    if op in ("COPY", "ADD"):
        for src in _sources(args, context):
            for f in sorted([src] if src.is_file() else [p for p in src.rglob("*") if p.is_file()]):
                h.update(f"{f.relative_to(context)} {f.stat().st_mode:o}\n".encode())
                h.update(hashlib.sha256(f.read_bytes()).digest())
    return h.hexdigest()


def _sources(args: str, context: Path) -> list[Path]:
    *srcs, _dest = _copy_args(args)
    root = context.resolve()
    out = []
    for s in srcs:
        try:
            p = (context / s).resolve()
        except (RuntimeError, OSError):  # a loop of links, a -> b -> a (RuntimeError to 3.12, ELOOP after)
            raise InvalidArgument("error.images.copy-links-build-context", s=s, context=context, context_s=context / s) from None
        if p != root and root not in p.parents:
            raise InvalidArgument("error.images.copy-outside-build-context", s=s, context=context)
        if not p.exists():
            raise InvalidArgument("error.images.copy-no-such-file", s=s, context=context)
        out.append(p)
    return out


def _copy_args(args: str) -> list[str]:
    words = json.loads(args) if args.startswith("[") else shlex.split(args)
    if len(words) < 2:
        raise InvalidArgument("error.images.copy-give-source-destination", args=args)
    return words


def _step(store, parent: str, op: str, args: str, context: Path, cached: str, out, run) -> str:
    from .commit import commit_upper, derive

    base = store.get(parent)
    cfg = base.config.get("config", {})
    if op == "RUN":
        argv = _json_or_shell(args)
        c = run(parent, argv, cfg.get("Env") or [], cfg.get("WorkingDir") or "/", cfg.get("User") or None)
        try:
            out(f" ---> Running in {c.id[:12]}")
            code = c.wait()
            for text in c.logs().splitlines():
                out(text)
            if code != 0:
                raise BuildError("error.images.command-returned-non-zero", join=' '.join(argv), code=code)
            upper, _ = c._layers()
            commit_upper(store, parent, upper, cached, created_by=f"RUN {' '.join(argv)}")
        finally:
            c.remove(force=True)
        return cached
    if op in ("COPY", "ADD"):
        raw = _copy_layer(_copy_args(args), context, cfg.get("WorkingDir") or "/", unpack_tars=(op == "ADD"))
        return derive(store, parent, cached, f"{op} {args}", layer=raw)
    config_changes = {}
    if op == "ENV":
        env = dict(e.split("=", 1) for e in cfg.get("Env") or [] if "=" in e)
        env.update(_pairs(args))
        config_changes["Env"] = [f"{k}={v}" for k, v in env.items()]
    elif op == "WORKDIR":
        config_changes["WorkingDir"] = os.path.normpath(os.path.join(cfg.get("WorkingDir") or "/", args))
    elif op == "USER":
        config_changes["User"] = args
    elif op == "LABEL":
        config_changes["Labels"] = {**(cfg.get("Labels") or {}), **_pairs(args)}
    elif op == "EXPOSE":
        config_changes["ExposedPorts"] = {**(cfg.get("ExposedPorts") or {}),
                                          **{(p if "/" in p else f"{p}/tcp"): {} for p in args.split()}}
    elif op == "CMD":
        config_changes["Cmd"] = _json_or_shell(args)
    elif op == "ENTRYPOINT":
        config_changes["Entrypoint"] = _json_or_shell(args)
    return derive(store, parent, cached, f"{op} {args}", config_changes=config_changes)


def _copy_layer(words: list[str], context: Path, workdir: str, unpack_tars: bool) -> bytes:
    *srcs, dest = words
    dest_abs = dest if dest.startswith("/") else os.path.join(workdir, dest)
    into_dir = dest.endswith("/") or len(srcs) > 1
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for src in _sources(" ".join(shlex.quote(w) for w in words), context):
            if unpack_tars and src.is_file() and tarfile.is_tarfile(src):
                with tarfile.open(src) as inner:
                    for m in inner:
                        m.name = os.path.join(dest_abs, m.name).lstrip("/")
                        tar.addfile(m, inner.extractfile(m) if m.isreg() else None)
                continue
            target = os.path.join(dest_abs, src.name) if (into_dir or src.is_dir()) and src.is_file() else dest_abs
            for f in [src] if src.is_file() else sorted(src.rglob("*")):
                arc = target if f == src else os.path.join(target, str(f.relative_to(src)))
                info = tar.gettarinfo(str(f), arcname=arc.lstrip("/"))
                info.uid = info.gid = 0
                info.uname = info.gname = "root"
                with open(f, "rb") if f.is_file() else io.BytesIO() as data:
                    tar.addfile(info, data if f.is_file() else None)
    return buf.getvalue()


def prune_cache(store: ImageStore) -> int:
    """Forget every cached build step (`docker builder prune`); returns how many. rmi's gc then frees them."""
    names = [n for n in store.names() if n.startswith(CACHE + ":")]
    for n in names:
        store.untag(n)
    return len(names)
