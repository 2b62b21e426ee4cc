"""A workshop bundle: one tar that sets the lab up on a VM with no network (`./lab bundle`, `./lab setup --from`).

Run by the base python3 as a script, before any venv exists, so standard library only:

    python3 labkit/host/bundle.py make workshop.tar --venv-python .venv/bin/python --lock requirements/lock-py3.11.txt \\
            --packages python3 python3-venv busybox-static ... [--no-debs]
    python3 labkit/host/bundle.py unpack workshop.tar /var/tmp/labkit-bundle.X    # checks, then extracts

What the tar holds (the names inside it):

    manifest.json     {"format": 1, "os": "debian 12", "arch": "amd64", "python": "3.11", "lab": "0.1.0",
                       "files": {"wheels/anyio-4.16.0-py3-none-any.whl": {"sha256": "c66a...", "size": 113217}, ...}}
    lock.txt          the lock the wheels were downloaded by (pip checks each wheel's hash again)
    wheels/           every wheel of the lock, and setuptools (labkit itself is built offline with it)
    debs/             the lab's Debian packages and all they depend on, with a Packages index: setup
                      installs from it with apt, as from a mirror, only what the VM lacks
    bin/docker        the docker CLI, as ./lab setup takes it out of Debian's docker.io package
    images.tar        every image of the local store (`labkit save`): busybox, and the workshop's own
    notebooks/, source.tar   the notebooks, and the lab's source at the commit the bundle was made from

unpack refuses, before it extracts anything: a bundle made for another OS release, architecture or
Python; a member whose path leaves the folder; a file missing, added or changed (its sha256).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

FORMAT = 1
REPO = Path(__file__).resolve().parents[2]


def said(key: str, *values) -> str:
    """One of ./lab's messages, by ID, in its language (labkit/messages/lab/<lang>.tsv, as `./lab` reads
    it: this runs with the system's python3 before any venv, and imports nothing of labkit's)."""
    lang = "en"
    for name in ("LABKIT_LANG", "LC_ALL", "LC_MESSAGES", "LANG"):
        if os.environ.get(name):
            lang = "zh" if os.environ[name].startswith("zh") else "en"
            break
    texts = {}
    for code in ("en", lang):
        for line in (REPO / "labkit" / "messages" / "lab" / f"{code}.tsv").read_text(encoding="utf-8").splitlines():
            if line and not line.startswith("#"):
                k, _, v = line.partition("\t")
                texts[k] = v
    return texts.get(key, key).replace("%s", "{}").format(*values)


def say(key: str, *values) -> None:
    print(f"\033[1m[lab]\033[0m {said(key, *values)}", flush=True)


class Refused(SystemExit):
    def __init__(self, key: str, *values):
        super().__init__(f"\033[1;31m[lab]\033[0m {said(key, *values)}")


def this_machine() -> dict:
    """{"os": "debian 12", "arch": "amd64", "python": "3.11"}: what a bundle must have been made for."""
    info = {}
    for line in Path("/etc/os-release").read_text().splitlines():
        key, _, value = line.partition("=")
        info[key] = value.strip('"')
    arch = subprocess.run(["dpkg", "--print-architecture"], capture_output=True, text=True).stdout.strip()
    return {"os": f"{info.get('ID', '?')} {info.get('VERSION_ID', '?')}", "arch": arch or platform.machine(),
            "python": "%d.%d" % sys.version_info[:2]}


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{n:.0f} B"
        n /= 1024
    return ""


# -- make -----------------------------------------------------------------------------------------------
def debs_for(packages: list[str]) -> list[dict]:
    """The packages and all they depend on, as apt's own resolver picks them for a system with nothing
    installed (an empty dpkg status): the first of each "a | b" alternative, the candidate versions.
    Required ones too: a learner's VM from an older image may need the newer libc a package wants.
    Each as {"name": "busybox-static", "file": "busybox-static_1%3a1.35.0-4+b3_amd64.deb", "size": 936600,
    "hash": ("md5", "f6f1...")}.

    apt's cache is pointed at an empty folder while it answers: --print-uris leaves out every package
    whose .deb already sits in the cache, and the machine that set the lab up has them all there
    (issue 22: a bundle made there lacked busybox-static, docker-registry, iptables ...)."""
    with tempfile.NamedTemporaryFile() as empty, tempfile.TemporaryDirectory() as cache:
        os.mkdir(os.path.join(cache, "partial"))
        out = subprocess.run(["apt-get", "install", "--print-uris", "-qq", "--no-install-recommends",
                              "-o", f"Dir::State::status={empty.name}", "-o", f"Dir::Cache::archives={cache}",
                              "-o", "Debug::NoLocking=1", *packages], capture_output=True, text=True)
    if out.returncode != 0:
        raise Refused("apt-unresolved", out.stderr.strip()[-300:])
    # 'http://deb.debian.org/debian/pool/main/b/busybox/busybox-static_1%3a1.35.0-4%2bb3_amd64.deb' busybox-static_1%3a1.35.0-4+b3_amd64.deb 936600 MD5Sum:f6f1...
    debs = {}
    for line in out.stdout.splitlines():
        if not line.startswith("'"):
            continue
        _uri, file, length, *checksum = line.split()
        algo, _, digest = (checksum or [":"])[0].partition(":")
        debs[file] = {"name": file.split("_", 1)[0], "file": file, "size": int(length),
                      "hash": (algo.lower().replace("sum", ""), digest)}
    return sorted(debs.values(), key=lambda d: d["name"])


def apt_cache() -> Path:
    """apt's own cache of downloaded .debs: /var/cache/apt/archives/ unless configured elsewhere."""
    out = subprocess.run(["apt-config", "shell", "D", "Dir::Cache::archives/d"], capture_output=True, text=True).stdout
    return Path(out.partition("=")[2].strip().strip("'\"") or "/var/cache/apt/archives")


def gather_debs(debs: list[dict], into: Path) -> tuple[int, int]:
    """Each .deb into `into`: copied from apt's cache when the very file is there (its size and
    checksum as apt's index says), else downloaded by apt: a machine whose cache holds them all makes
    the bundle without the network. Returns (from the cache, downloaded)."""
    cache, missing = apt_cache(), []
    for deb in debs:
        cached = cache / deb["file"]
        algo, digest = deb["hash"]
        try:
            with open(cached, "rb") as f:
                # apt checked each file it put in its cache; the size (and the checksum where its index gives
                # one: none for some security updates) says it is the version apt wants now
                ok = os.fstat(f.fileno()).st_size == deb["size"] and (not digest or (
                    algo in hashlib.algorithms_available and hashlib.file_digest(f, algo).hexdigest() == digest))
        except OSError:
            ok = False
        if ok:
            shutil.copy2(cached, into / deb["file"])
        else:
            missing.append(deb["name"])
    if missing and os.environ.get("LABKIT_OFFLINE") == "1":
        raise Refused("debs-offline", len(missing), ", ".join(missing[:6]) + (" ..." if len(missing) > 6 else ""))
    if missing:
        subprocess.run(["apt-get", "download", "-qq", "-o", "APT::Sandbox::User=root", *missing], cwd=into, check=True,
                       stdout=subprocess.DEVNULL)
    return len(debs) - len(missing), len(missing)


def write_packages_index(debs: Path) -> None:
    """debs/Packages: each .deb's control fields with Filename, Size and SHA256, what `apt-get update`
    reads from a `deb [trusted=yes] file:DIR ./` source (dpkg-scanpackages' job, without dpkg-dev)."""
    entries = []
    for deb in sorted(debs.glob("*.deb")):
        control = subprocess.run(["dpkg-deb", "-f", str(deb)], capture_output=True, text=True, check=True).stdout
        entries.append(control.rstrip("\n") + f"\nFilename: ./{deb.name}\nSize: {deb.stat().st_size}\nSHA256: {sha256(deb)}\n")
    (debs / "Packages").write_text("\n".join(entries))


def source(out: Path) -> None:
    """The lab's source: `git archive HEAD` in a git checkout; elsewhere (an unpacked release) the tree
    as it is, less what set-up and the tests make (.venv, test-artifacts, caches)."""
    if subprocess.run(["git", "-C", str(REPO), "archive", "-o", str(out), "HEAD"], capture_output=True).returncode == 0:
        return
    skip = {".venv", ".git", "test-artifacts", "__pycache__", ".ipynb_checkpoints", "labkit.egg-info"}
    with tarfile.open(out, "w") as tar:
        tar.add(REPO, "labkit", filter=lambda info: None if Path(info.name).name in skip else info)


def make(args) -> None:
    t0 = time.monotonic()
    out = Path(args.output).absolute()
    stage = Path(tempfile.mkdtemp(prefix="labkit-bundle.", dir=out.parent))
    stage.chmod(0o755)  # apt-get download writes as the _apt user
    try:
        (stage / "wheels").mkdir()
        shutil.copy(args.lock, stage / "lock.txt")
        say("bundle-wheels", sum("==" in line for line in Path(args.lock).read_text().splitlines()))
        pip = [args.venv_python, "-m", "pip", "download", "-q", "--no-deps", "-d", str(stage / "wheels")]
        subprocess.run(pip + ["--require-hashes", "-r", args.lock], check=True)
        subprocess.run(pip + ["--only-binary=:all:", "setuptools>=77"], check=True)
        if not args.no_debs:
            debs = debs_for(args.packages)
            say("bundle-gather", len(debs))
            (stage / "debs").mkdir()
            cached, fetched = gather_debs(debs, stage / "debs")
            say("bundle-fetched", cached, fetched)
            write_packages_index(stage / "debs")
        docker = Path(args.venv_python).parent / "docker"
        if docker.exists():
            (stage / "bin").mkdir()
            shutil.copy2(docker, stage / "bin" / "docker")
        say("bundle-saving-images")
        listing = "from labkit.images.store import ImageStore; from labkit.paths import instance; " \
                  "print(*(n for n in ImageStore(instance()).names() if 'labkit-build-cache' not in n))"
        names = subprocess.run([args.venv_python, "-c", listing], capture_output=True, text=True, check=True).stdout.split()
        subprocess.run([args.venv_python, "-m", "labkit", "save", "-o", str(stage / "images.tar"), *names], check=True,
                       stdout=subprocess.DEVNULL)
        shutil.copytree(REPO / "notebooks", stage / "notebooks", ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
        source(stage / "source.tar")
        files = {str(p.relative_to(stage)): {"sha256": sha256(p), "size": p.stat().st_size}
                 for p in sorted(stage.rglob("*")) if p.is_file()}
        manifest = {"format": FORMAT, **this_machine(), "lab": args.lab_version, "images": names,
                    "made": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "files": files}
        (stage / "manifest.json").write_text(json.dumps(manifest, indent=1))
        with tarfile.open(out.with_suffix(out.suffix + ".partial"), "w") as tar:
            tar.add(stage / "manifest.json", "manifest.json")  # first: unpack reads it before the rest
            for rel in files:
                tar.add(stage / rel, rel)
        os.replace(out.with_suffix(out.suffix + ".partial"), out)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    counts = {kind: sum(1 for f in files if f.startswith(kind + "/") and f.endswith((".whl", ".deb"))) for kind in ("wheels", "debs")}
    say("bundle-made", out, size(out.stat().st_size), counts["wheels"], counts["debs"], len(names),
        f"{manifest['os']} {manifest['arch']}", manifest["python"], f"{time.monotonic() - t0:.0f}")


# -- unpack ---------------------------------------------------------------------------------------------
def _extract(tar: tarfile.TarFile, dest: Path) -> None:
    """Regular files and folders only, each inside `dest` (no absolute path, no .., no link, no device):
    a bundle is data. (tarfile's own filter="data" came in Python 3.11.4; Debian 12 has 3.11.2.)"""
    root = dest.resolve()
    for m in tar.getmembers():
        target = (root / m.name).resolve()
        if m.name.startswith("/") or (target != root and root not in target.parents):
            raise Refused("bundle-outside", repr(m.name))
        if m.isdir():
            target.mkdir(parents=True, exist_ok=True)
        elif m.isfile():
            target.parent.mkdir(parents=True, exist_ok=True)
            with tar.extractfile(m) as src, open(target, "wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
            target.chmod(0o755 if m.mode & 0o111 else 0o644)
        else:
            raise Refused("bundle-special", repr(m.name))


def unpack(args) -> None:
    t0 = time.monotonic()
    dest = Path(args.dest)
    try:
        tar = tarfile.open(args.bundle)
    except (OSError, tarfile.TarError) as e:
        raise Refused("not-a-bundle", args.bundle, e) from None
    with tar:
        try:
            manifest = json.load(tar.extractfile("manifest.json"))
        except (KeyError, ValueError, TypeError):
            raise Refused("bundle-no-manifest", args.bundle) from None
        if manifest.get("format") != FORMAT:
            raise Refused("bundle-format", repr(manifest.get("format")), FORMAT)
        here = this_machine()
        for key in ("os", "arch", "python"):
            if manifest.get(key) != here[key]:
                raise Refused("bundle-machine", f"{manifest.get('os')} {manifest.get('arch')}", manifest.get("python"),
                              f"{here['os']} {here['arch']}", here["python"])
        names = {m.name for m in tar.getmembers() if m.isfile()} - {"manifest.json"}
        if names != set(manifest["files"]):
            extra, lost = sorted(names - set(manifest["files"])), sorted(set(manifest["files"]) - names)
            raise Refused("bundle-files", extra[:3], lost[:3])
        total = sum(f["size"] for f in manifest["files"].values())
        say("bundle-of", manifest.get("made"), manifest.get("lab"), len(names), size(total))
        _extract(tar, dest)
    for rel, want in manifest["files"].items():
        if sha256(dest / rel) != want["sha256"]:
            shutil.rmtree(dest, ignore_errors=True)
            raise Refused("bundle-sha256", rel)
    say("bundle-unpacked", f"{time.monotonic() - t0:.0f}")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(prog="bundle.py")
    sub = ap.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("make")
    m.add_argument("output")
    m.add_argument("--venv-python", required=True)
    m.add_argument("--lock", required=True)
    m.add_argument("--lab-version", default="?")
    m.add_argument("--packages", nargs="*", default=[])
    m.add_argument("--no-debs", action="store_true", help="leave out the Debian packages (learners' VMs have them)")
    u = sub.add_parser("unpack")
    u.add_argument("bundle")
    u.add_argument("dest")
    args = ap.parse_args(argv)
    (make if args.cmd == "make" else unpack)(args)


if __name__ == "__main__":
    main()
