"""Pull and unpack a ~100 MB multi-layer image: labkit beside skopeo, umoci and GNU tar, in one run.

    sudo .venv/bin/python bench/image_speed.py [--mb 100] [--runs 3]

The image is made here from this machine's own files (/usr/lib, /usr/share: real binaries and text,
which compress as real images do), in layers of about 25 MB, into a temporary lab; the lab's
registry server serves it on 127.0.0.1. Then, each --runs times, medians printed:

  pull    labkit's pull into an empty store    vs  skopeo copy docker://... oci:DIR   (target: <= skopeo)
  unpack  the lab's store unpacking the image   vs  umoci raw unpack; tar -xzf each layer (target: 2x umoci, < tar)
          (layers side by side, as pull's "extracting" does; the unpacker alone, one layer at a
          time, is printed beneath it)
  share   a second image on the same base: bytes of the base fetched again (target: 0)

Issue 12's targets. This prints the figures and says met or not; it asserts nothing.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from labkit.images import local_registry  # noqa: E402
from labkit.images.pull import pull  # noqa: E402
from labkit.images.registry import Registry  # noqa: E402
from labkit.images.store import MT_CONFIG, MT_LAYER_GZIP, MT_MANIFEST, ImageStore, canonical_json  # noqa: E402
from labkit.images.unpack import unpack_layer  # noqa: E402
from labkit.paths import instance  # noqa: E402


def make_image(store: ImageStore, name: str, total_mb: int, layer_mb: int = 25, extra: bytes = b"") -> None:
    files = [p for root in ("/usr/lib", "/usr/share") for p in sorted(Path(root).rglob("*"))
             if p.is_file() and not p.is_symlink() and p.stat().st_size < 4 << 20]
    layers, diff_ids, budget, i = [], [], total_mb << 20, 0
    while budget > 0:
        buf, size = io.BytesIO(), 0
        with tarfile.open(fileobj=buf, mode="w") as tar:
            while size < layer_mb << 20 and i < len(files):
                try:
                    tar.add(str(files[i]), arcname=f"data/{len(layers)}/{i}")
                    size += files[i].stat().st_size
                except OSError:
                    pass
                i += 1
            if extra and budget - size <= 0:
                info = tarfile.TarInfo("extra")
                info.size = len(extra)
                tar.addfile(info, io.BytesIO(extra))
        raw = buf.getvalue()
        diff_ids.append("sha256:" + hashlib.sha256(raw).hexdigest())
        digest, sz = store.put_blob(gzip.compress(raw, compresslevel=6, mtime=0))
        layers.append({"mediaType": MT_LAYER_GZIP, "digest": digest, "size": sz})
        budget -= size
    cfg = {"architecture": "amd64", "os": "linux", "config": {"Cmd": ["true"]},
           "rootfs": {"type": "layers", "diff_ids": diff_ids}}
    cdigest, csize = store.put_blob(canonical_json(cfg))
    mdigest, msize = store.put_blob(canonical_json({"schemaVersion": 2, "mediaType": MT_MANIFEST, "config": {
        "mediaType": MT_CONFIG, "digest": cdigest, "size": csize}, "layers": layers}))
    store.tag(name, mdigest, msize)


def img_in(src: ImageStore, root: Path):
    """The source image, read from a second lab whose blobs are the source's (hard links): the
    store unpacks into that lab's own layers/, as it does after a pull, without copying 49 MB first."""
    other = ImageStore(instance(str(root)))
    other.dir.mkdir(parents=True, exist_ok=True)
    for f in src.dir.rglob("*"):
        dest = other.dir / f.relative_to(src.dir)
        if f.is_dir():
            dest.mkdir(parents=True, exist_ok=True)
        elif not dest.exists():
            os.link(f, dest)
    return other, other.get("localhost/bench:base")


def timed(fns: dict, runs: int) -> dict[str, list[float]]:
    """Each function once per round, in turn, the disk's dirty pages written out before each: the
    one measured is not charged for the previous one's writeback (this VM's disk is shared and
    noisy: taking turns spreads the noise over every tool alike)."""
    out: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(runs):
        for name, fn in fns.items():
            os.sync()
            t = time.perf_counter()
            fn()
            out[name].append(time.perf_counter() - t)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mb", type=int, default=100)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("run as root: sudo .venv/bin/python bench/image_speed.py")
    for tool in ("docker-registry", "skopeo", "umoci", "tar"):
        if not shutil.which(tool):
            raise SystemExit(f"{tool} is missing: apt-get install docker-registry skopeo umoci")
    with tempfile.TemporaryDirectory(prefix="labkit-bench-", dir="/var/tmp") as tmp:
        tmp = Path(tmp)
        os.environ["LABKIT_ROOT"] = str(tmp / "root")
        inst = instance()
        src = ImageStore(inst)
        make_image(src, "localhost/bench:base", args.mb)
        make_image(src, "localhost/bench:second", args.mb, extra=b"the second image's own file\n")
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        reg = local_registry.start(port=port, inst=inst)
        try:
            for tag in ("base", "second"):
                subprocess.run(["skopeo", "copy", "--quiet", "--dest-tls-verify=false", f"oci:{src.dir}:localhost/bench:{tag}",
                                f"docker://{reg.host}/bench:{tag}"], check=True)
            img = src.get("localhost/bench:base")
            size = sum(src.blob_path(d).stat().st_size for d, _ in img.layers)
            n = 0

            def labkit_pull():
                nonlocal n
                n += 1
                pull(f"{reg.host}/bench:base", ImageStore(instance(str(tmp / f"pull{n}"))), progress=False)

            def skopeo_pull():
                nonlocal n
                n += 1
                subprocess.run(["skopeo", "copy", "--quiet", "--src-tls-verify=false", f"docker://{reg.host}/bench:base",
                                f"oci:{tmp / f'sk{n}'}:bench"], check=True)

            res = timed({"labkit pull": labkit_pull, "skopeo copy": skopeo_pull}, args.runs)

            ready = iter([img_in(src, tmp / f"un{i}") for i in range(args.runs)])  # made before the clock

            def labkit_unpack():  # what pull's "extracting" does: the image's layers, side by side
                store, image = next(ready)
                store.unpack(image)

            def labkit_unpack_serial():  # the unpacker alone, one layer after another
                nonlocal n
                n += 1
                for d, _ in img.layers:
                    dest = tmp / f"us{n}" / d[7:19]
                    dest.mkdir(parents=True)
                    with open(src.blob_path(d), "rb") as f:
                        unpack_layer(f, dest)

            def umoci_unpack():
                nonlocal n
                n += 1
                subprocess.run(["umoci", "raw", "unpack", "--image", f"{src.dir}:localhost/bench:base",
                                str(tmp / f"um{n}")], check=True, capture_output=True)

            def tar_unpack():
                nonlocal n
                n += 1
                for d, _ in img.layers:
                    dest = tmp / f"tar{n}" / d[7:19]
                    dest.mkdir(parents=True)
                    subprocess.run(["tar", "-xzf", str(src.blob_path(d)), "-C", str(dest)], check=True)

            res.update(timed({"labkit unpack": labkit_unpack, "  (one layer at a time)": labkit_unpack_serial,
                              "umoci raw unpack": umoci_unpack, "tar -xzf (each layer)": tar_unpack}, args.runs))
            # a second image on the same base: what is fetched again
            store = ImageStore(instance(str(tmp / "share")))
            pull(f"{reg.host}/bench:base", store, progress=False)
            fetched = []
            import httpx

            client = httpx.Client(event_hooks={"response": [lambda r: fetched.append(int(r.headers.get("Content-Length", 0)))
                                                            if "/blobs/" in r.url.path else None]})
            pull(f"{reg.host}/bench:second", store, progress=False, registry=Registry(reg.host, client=client))
            second = ImageStore(inst).get("localhost/bench:second")
            shared = {d for d, _ in img.layers} & {d for d, _ in second.layers}
        finally:
            local_registry.stop(inst)
    print(f"\nimage: {len(img.layers)} layers, {size / 1e6:.1f} MB compressed; Linux {os.uname().release}, "
          f"{os.cpu_count()} CPUs")
    print(f"{'':<26} {'median':>8} {'min':>8} {'runs':>5}   (s)")
    for name, ts in res.items():
        print(f"{name:<26} {statistics.median(ts):>8.2f} {min(ts):>8.2f} {len(ts):>5}")
    med = {k: statistics.median(v) for k, v in res.items()}
    print(f"\ntarget: pull <= skopeo: {med['labkit pull']:.2f} vs {med['skopeo copy']:.2f} s -> "
          f"{'met' if med['labkit pull'] <= med['skopeo copy'] else 'not met'}")
    print(f"target: unpack 2x umoci: {med['umoci raw unpack'] / med['labkit unpack']:.2f}x -> "
          f"{'met' if med['labkit unpack'] * 2 <= med['umoci raw unpack'] else 'not met'}")
    print(f"target: unpack faster than tar: {med['labkit unpack']:.2f} vs {med['tar -xzf (each layer)']:.2f} s -> "
          f"{'met' if med['labkit unpack'] < med['tar -xzf (each layer)'] else 'not met'}")
    print(f"target: the second image fetches none of the {len(shared)} shared layers: {sum(fetched)} bytes of blobs "
          f"fetched -> {'met' if len(fetched) <= len(second.layers) - len(shared) + 1 else 'not met'}")


if __name__ == "__main__":
    main()
