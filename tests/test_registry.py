"""Pull from the real registry server (Debian's docker-registry), filled by skopeo from labkit's own
store: anonymous and private (Basic auth), digests checked, layers skipped or resumed. Nothing leaves
this machine: the server listens on 127.0.0.1."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import subprocess

import httpx
import pytest

import labkit as lk
from labkit.images import local_registry
from labkit.images.pull import DigestMismatch, pull
from labkit.images.registry import Registry, Unauthorized
from labkit.images.store import ImageStore
from labkit.paths import instance

# Host only: HTTP and files, nothing that differs with the cgroup version (the VM's time goes to what does).
pytestmark = [pytest.mark.skipif(not shutil.which("docker-registry") or not shutil.which("skopeo"),
                                reason="apt-get install docker-registry skopeo apache2-utils")]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def push_with_skopeo(inst, name: str, dest: str, creds: str | None = None) -> None:
    """skopeo reads labkit's OCI layout (images/) and pushes to the registry: interop, one way."""
    cmd = ["skopeo", "copy", "--quiet", "--dest-tls-verify=false", f"oci:{inst.images}:{name}", f"docker://{dest}"]
    if creds:
        cmd[2:2] = ["--dest-creds", creds]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr


@pytest.fixture(scope="module")
def registry(busybox):
    inst = instance()
    reg = local_registry.start(port=free_port(), inst=inst)
    push_with_skopeo(inst, "docker.io/library/busybox:latest", f"{reg.host}/test/busybox:1")
    yield reg
    local_registry.stop(inst)


@pytest.fixture
def fresh(tmp_path):
    """An empty store elsewhere, to pull into."""
    return ImageStore(instance(str(tmp_path / "root")))


def counting_client():
    seen = []
    client = httpx.Client(event_hooks={"request": [lambda req: seen.append((req.method, req.url.path))]})
    return client, seen


def test_pull_brings_the_same_image_and_it_runs(registry, fresh, busybox):
    img = pull(f"{registry.host}/test/busybox:1", fresh, progress=False)
    assert img.id == busybox.id  # the config's digest: the same image, wherever it is stored
    assert [d for d, _ in img.layers] == [d for d, _ in busybox.layers]
    (root,) = fresh.unpack(img)
    assert (root / "bin" / "busybox").exists()
    # and in the lab's own store, a container runs from it
    store = ImageStore(instance())
    pull(f"{registry.host}/test/busybox:1", store, progress=False)
    r = lk.run(f"{registry.host}/test/busybox:1", "echo pulled", rm=True, stream=False)
    assert r.stdout == "pulled\n"


def test_pull_extracts_the_layers_as_docker_does(registry, fresh):
    """lk.pull / `labkit pull` unpack too, in the caller's process, so labkitd's first run of the
    image has nothing to unpack while other clients wait."""
    from labkit.images import commands

    img = commands.pull(f"{registry.host}/test/busybox:1", progress=False, inst=fresh.inst)
    dirs = [fresh.layer_dir(diff_id) for _, diff_id in img.layers]
    assert dirs and all(d.is_dir() for d in dirs) and (dirs[-1] / "bin" / "busybox").exists()
    assert fresh.unpack(img) == dirs  # nothing left to do


def test_a_second_pull_fetches_no_layer_again(registry, fresh):
    pull(f"{registry.host}/test/busybox:1", fresh, progress=False)
    client, seen = counting_client()
    reg = Registry(registry.host, client=client)
    pull(f"{registry.host}/test/busybox:1", fresh, progress=False, registry=reg)
    assert [p for m, p in seen if "/blobs/" in p] == []  # the manifest only: every blob is here already


def test_a_corrupt_blob_is_refused_and_not_stored(registry, fresh, busybox):
    data_dir = registry.inst.root / "registry" / "data" / "docker" / "registry" / "v2" / "blobs" / "sha256"
    layer = busybox.layers[0][0].partition(":")[2]
    blob = data_dir / layer[:2] / layer / "data"
    original = blob.read_bytes()
    try:
        blob.write_bytes(original[:-10] + b"0123456789")  # same size, other bytes
        with pytest.raises(DigestMismatch):
            pull(f"{registry.host}/test/busybox:1", fresh, progress=False)
        assert not fresh.blob_path(busybox.layers[0][0]).exists()
        assert not list(fresh.blobs.glob(".partial-*"))
    finally:
        blob.write_bytes(original)


def test_an_interrupted_download_resumes_with_a_range_request(registry, fresh, busybox):
    digest = busybox.layers[0][0]
    whole = ImageStore(instance()).read_blob(digest)
    fresh.blobs.mkdir(parents=True)
    (fresh.blobs / f".partial-{digest[7:]}").write_bytes(whole[: len(whole) // 2])
    client, seen = counting_client()
    ranges = []
    client.event_hooks["request"].append(lambda req: ranges.append(req.headers.get("Range")))
    pull(f"{registry.host}/test/busybox:1", fresh, progress=False, registry=Registry(registry.host, client=client))
    assert f"bytes={len(whole) // 2}-" in ranges
    assert hashlib.sha256(fresh.blob_path(digest).read_bytes()).hexdigest() == digest[7:]


def test_an_unknown_tag_is_a_clear_error(registry, fresh):
    with pytest.raises(lk.NotFound) as e:
        pull(f"{registry.host}/test/busybox:nope", fresh, progress=False)
    assert "not found" in str(e.value) and e.value.hint


def test_a_private_registry_wants_basic_auth(busybox, fresh, tmp_path):
    inst = instance(str(tmp_path / "priv"))
    reg = local_registry.start(port=free_port(), users={"alice": "s3cret"}, inst=inst)
    try:
        push_with_skopeo(instance(), "docker.io/library/busybox:latest", f"{reg.host}/team/bb:1", creds="alice:s3cret")
        with pytest.raises(Unauthorized) as e:
            pull(f"{reg.host}/team/bb:1", fresh, progress=False)
        assert "login" in e.value.hint
        with pytest.raises(Unauthorized):
            pull(f"{reg.host}/team/bb:1", fresh, progress=False, auth=("alice", "wrong"))
        img = pull(f"{reg.host}/team/bb:1", fresh, progress=False, auth=("alice", "s3cret"))
        assert img.id == busybox.id
        assert reg.repositories(auth=("alice", "s3cret")) == {"team/bb": ["1"]}
        assert oct(os.stat(inst.root / "registry" / "htpasswd").st_mode & 0o777) == "0o600"
    finally:
        local_registry.stop(inst)
    assert local_registry.status(inst) is None


def test_a_private_registry_keeps_its_own_images_apart_from_the_open_one(busybox, tmp_path):
    """Notebook 10 starts the open registry, stops it, then a private one: the private one must not
    list (nor serve) what the open one stored (they shared registry/data/)."""
    inst = instance(str(tmp_path / "both"))
    reg = local_registry.start(port=free_port(), inst=inst)
    try:
        push_with_skopeo(instance(), "docker.io/library/busybox:latest", f"{reg.host}/open/bb:1")
        assert reg.repositories() == {"open/bb": ["1"]}
    finally:
        local_registry.stop(inst)
    private = local_registry.start(port=free_port(), users={"alice": "s3cret"}, inst=inst)
    try:
        assert private.repositories(auth=("alice", "s3cret")) == {}
    finally:
        local_registry.stop(inst)
    reg = local_registry.start(port=free_port(), inst=inst)
    try:
        assert reg.repositories() == {"open/bb": ["1"]}  # the open one's images are still its own
    finally:
        local_registry.stop(inst)


def test_push_then_skopeo_and_labkit_read_it_back(registry, fresh, busybox):
    lk.tag("busybox", f"{registry.host}/pushed/bb:2")
    digest = lk.push(f"{registry.host}/pushed/bb:2")
    assert digest.startswith("sha256:")
    r = subprocess.run(["skopeo", "inspect", "--tls-verify=false", f"docker://{registry.host}/pushed/bb:2"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["Digest"] == digest  # skopeo reads what labkit pushed
    assert pull(f"{registry.host}/pushed/bb:2", fresh, progress=False).id == busybox.id
    assert registry.repositories()["pushed/bb"] == ["2"]
    lk.rmi(f"{registry.host}/pushed/bb:2")


def test_run_pulls_an_image_that_is_not_here(registry, busybox, capfd):
    name = f"{registry.host}/test/busybox:1"
    if name in ImageStore(instance()).names():  # an earlier test pulled it: not here is the point
        lk.rmi(name)
    assert name not in ImageStore(instance()).names()
    r = lk.run(name, "echo hi", rm=True, stream=False, trace=True)
    assert r.stdout == "hi\n"
    assert r.trace[0][0].startswith("find the image locally: not there, so pull it from " + registry.host)
    assert r.steps[:2] == ("pull", "check") and len(r.steps) == len(r.trace)  # the pull is step 1's, by its ID
    assert "Unable to find image" in capfd.readouterr().err
    assert lk.images.names().count(f"localhost:{registry.port}/test/busybox:1") == 1


def test_rmi_removes_what_nothing_else_needs_and_keeps_shared_layers(registry, busybox):
    store = ImageStore(instance())
    name = f"{registry.host}/test/busybox:1"
    pull(name, store, progress=False)
    lk.tag(name, f"{registry.host}/test/busybox:other")
    digest, count, freed = lk.rmi(name)
    assert (count, freed) == (0, 0)  # "other" still names it, and busybox shares its layers
    lk.rmi(f"{registry.host}/test/busybox:other")
    assert store.blob_path(busybox.layers[0][0]).exists()  # busybox:latest still needs its layer
    assert (instance().layers / busybox.layers[0][1][7:]).is_dir()


def test_the_cli_pulls_lists_and_shows_the_registry(registry, busybox):
    from test_faults import LABKIT

    name = f"{registry.host}/test/busybox:1"
    r = subprocess.run([*LABKIT, "pull", name], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and "pulled" in r.stdout, r.stderr
    r = subprocess.run([*LABKIT, "images"], capture_output=True, text=True, timeout=60)
    assert f"{registry.host}/test/busybox" in r.stdout and busybox.id[7:19] in r.stdout
    r = subprocess.run([*LABKIT, "pull", f"{registry.host}/test/busybox:nope"], capture_output=True, text=True, timeout=60)
    assert r.returncode != 0 and "not found" in r.stderr and "hint:" in r.stderr
    r = subprocess.run([*LABKIT, "pull", "Bad Name"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 125 and "invalid reference" in r.stderr


def test_offline_no_request_leaves_the_machine(fresh, monkeypatch):
    """LABKIT_OFFLINE (set for the whole suite): a registry elsewhere is refused before any request."""
    from labkit.images.registry import Offline

    sent = []
    monkeypatch.setattr(httpx.Client, "send", lambda self, *a, **kw: sent.append(a) or pytest.fail("a request left"))
    with pytest.raises(Offline) as e:
        pull("alpine:3.20", fresh, progress=False)
    assert "LABKIT_OFFLINE" in str(e.value) and e.value.hint
    with pytest.raises(lk.ImageNotFound) as e:
        lk.run("alpine:3.20", "true", stream=False)
    assert "LABKIT_OFFLINE" in str(e.value)
    assert sent == []


def test_bearer_token_auth_as_docker_hub_does(busybox, fresh, tmp_path):
    """The registry wants a token from an issuer (Docker Hub's flow): anonymous pulls get a pull-only
    token, pushes need a user's; labkit follows the WWW-Authenticate challenge both ways."""
    import time

    from token_issuer import TokenIssuer

    issuer = TokenIssuer(tmp_path, "labkit-test", {"alice": "s3cret"})
    port = free_port()
    (tmp_path / "data").mkdir()
    config = tmp_path / "config.yml"
    config.write_text(f"""version: 0.1
log: {{level: error}}
storage: {{filesystem: {{rootdirectory: {tmp_path / 'data'}}}}}
http: {{addr: 127.0.0.1:{port}}}
auth:
  token:
    realm: {issuer.realm}
    service: labkit-test
    issuer: labkit-test-issuer
    rootcertbundle: {issuer.cert}
""")
    server = subprocess.Popen(["docker-registry", "serve", str(config)], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        host = f"localhost:{port}"
        for _ in range(200):
            if local_registry._answers(port):
                break
            time.sleep(0.05)
        lk.tag("busybox", f"{host}/team/tok:1")
        try:
            with pytest.raises(Unauthorized):
                lk.push(f"{host}/team/tok:1")  # anonymous: the token grants pull only
            assert lk.push(f"{host}/team/tok:1", auth=("alice", "s3cret")).startswith("sha256:")
        finally:
            lk.rmi(f"{host}/team/tok:1")
        img = pull(f"{host}/team/tok:1", fresh, progress=False)  # anonymous pull: a pull token
        assert img.id == busybox.id
        assert (None, ["repository:team/tok:pull"]) in issuer.issued
        assert ("alice", ["repository:team/tok:pull,push"]) in issuer.issued
    finally:
        server.terminate()
        server.wait(timeout=10)
        issuer.close()


def test_fill_the_registry_from_a_saved_archive(registry, busybox, tmp_path, fresh):
    """An instructor's USB stick: `labkit save` on a machine with the images, `labkit registry fill`
    on the room's registry, and every VM pulls from it."""
    from test_faults import LABKIT

    archive = tmp_path / "workshop.tar"
    lk.save("busybox", archive)
    r = subprocess.run([*LABKIT, "registry", "fill", str(archive)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert f"pushed {registry.host}/busybox:latest" in r.stdout
    assert pull(f"{registry.host}/busybox", fresh, progress=False).id == busybox.id
    r = subprocess.run([*LABKIT, "registry", "ls"], capture_output=True, text=True, timeout=60)
    assert f"{registry.host}/busybox: latest" in r.stdout
    lk.rmi(f"{registry.host}/busybox:latest")


def test_https_unless_local_or_listed_as_insecure(monkeypatch, tmp_path):
    monkeypatch.delenv("LABKIT_OFFLINE")  # no request is sent here: only the URL each would use
    assert Registry("localhost:5000").base == "http://localhost:5000"
    assert Registry("127.0.0.2:5000").base == "http://127.0.0.2:5000"
    assert Registry("[::1]:5000").base == "http://[::1]:5000"
    assert Registry("registry.lan:5000").base == "https://registry.lan:5000"
    assert Registry("docker.io").base == "https://registry-1.docker.io"
    (instance().root / "settings.json").write_text(json.dumps({"insecure-registries": ["registry.lan:5000"]}))
    try:
        assert Registry("registry.lan:5000").base == "http://registry.lan:5000"
    finally:
        (instance().root / "settings.json").unlink()


@pytest.mark.parametrize("compression", ["zstd", "none"])
def test_zstd_and_uncompressed_layers_pull_and_unpack(registry, fresh, tmp_path, compression):
    """A layer may be gzip'd, zstd'd or a plain tar: the media type says so, the first bytes tell."""
    import io
    import tarfile

    import zstandard

    from labkit.images.store import MT_CONFIG, MT_MANIFEST, canonical_json

    src = ImageStore(instance(str(tmp_path / "src")))
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo("hello")
        info.size = 6
        tar.addfile(info, io.BytesIO(b"hello\n"))
    raw = buf.getvalue()
    blob = zstandard.ZstdCompressor().compress(raw) if compression == "zstd" else raw
    ldigest, lsize = src.put_blob(blob)
    cfg = {"architecture": "amd64", "os": "linux", "config": {},
           "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(raw).hexdigest()]}}
    cdigest, csize = src.put_blob(canonical_json(cfg))
    media = "application/vnd.oci.image.layer.v1.tar" + ("+zstd" if compression == "zstd" else "")
    mdigest, msize = src.put_blob(canonical_json({"schemaVersion": 2, "mediaType": MT_MANIFEST, "config": {
        "mediaType": MT_CONFIG, "digest": cdigest, "size": csize}, "layers": [
        {"mediaType": media, "digest": ldigest, "size": lsize}]}))
    name = f"{registry.host}/test/{compression}:1"
    src.tag(name, mdigest, msize)
    from labkit.images.push import push

    push(name, src)
    img = pull(name, fresh, progress=False)
    (root,) = fresh.unpack(img)
    assert (root / "hello").read_text() == "hello\n"


def test_progress_is_a_widget_in_a_notebook_and_text_on_a_terminal(registry, tmp_path):
    """tqdm.auto: in a Jupyter kernel the bars are ipywidgets (a download bar per blob, then
    "extracting"); on a terminal they are text. Each pull goes into an empty lab, so there is work to show."""
    import fcntl
    import pty
    import struct
    import termios

    import nbformat
    from nbclient import NotebookClient

    from test_faults import LABKIT

    name = f"{registry.host}/test/busybox:1"
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "from labkit.images import commands\nfrom labkit.paths import instance\n"
        f"img = commands.pull({name!r}, inst=instance({str(tmp_path / 'nb')!r}))")])
    NotebookClient(nb, timeout=120, kernel_name="python3").execute()
    outs = nb.cells[0].outputs
    assert not [o for o in outs if o.output_type == "error"], outs
    widgets = [o for o in outs if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
    texts = " ".join(o["data"].get("text/plain", "") for o in widgets)
    assert len(widgets) >= 2 and "extracting" in texts, outs  # the config, the layer; then extracting

    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # a terminal's size, 100 columns
    p = subprocess.Popen([*LABKIT, "pull", name], stdin=slave, stdout=slave, stderr=slave,
                         env={**os.environ, "LABKIT_ROOT": str(tmp_path / "tty")})
    os.close(slave)
    seen = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the pull exited and the terminal closed
            break
        if not chunk:
            break
        seen += chunk
    os.close(master)
    assert p.wait(timeout=120) == 0, seen
    text = seen.decode(errors="replace")
    assert "extracting" in text and "100%" in text and "\r" in text, text  # bars redrawn in place


def test_registry_mirrors_are_asked_first_for_docker_hub_images(registry, fresh, busybox):
    from labkit.images.registry import Offline

    push_with_skopeo(instance(), "docker.io/library/busybox:latest", f"{registry.host}/library/busybox:mirrored")
    closed = free_port()  # a mirror that does not answer: the next one is asked
    fresh.inst.root.mkdir(parents=True, exist_ok=True)
    (fresh.inst.root / "settings.json").write_text(
        json.dumps({"registry-mirrors": [f"http://127.0.0.1:{closed}", f"http://{registry.host}/"]}))
    img = pull("busybox:mirrored", fresh, progress=False)  # Docker Hub is refused offline: a mirror served it
    assert img.name == "docker.io/library/busybox:mirrored"
    assert img.layers == ImageStore(instance()).get("busybox").layers
    with pytest.raises(Offline) as e:  # in no mirror: then Docker Hub, refused here; the message tells all three
        pull("busybox:absent", fresh, progress=False)
    assert f"127.0.0.1:{closed}" in e.value.message and registry.host in e.value.message, e.value.message
    with pytest.raises(lk.NotFound) as e:  # another registry's image never goes to a mirror
        pull(f"{registry.host}/test/busybox:absent", fresh, progress=False)
    assert "mirrors" not in e.value.message
