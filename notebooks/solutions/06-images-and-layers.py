# Solutions of notebook 06's exercises (see 02-namespaces.py for how they are used).

# exercise: 06.layer-id
compressed = store.blob_path(layer_digest).read_bytes()
mine = "sha256:" + hashlib.sha256(gzip.decompress(compressed)).hexdigest()
print(mine)
lk.exercise("06.layer-id").verify(matches_config=mine == img.config["rootfs"]["diff_ids"][0],
                                  not_the_blob=mine != layer_digest)

# exercise: 06.commit
lk.tidy("nb06-commit")                   # what a try before this one left
w = lk.run("busybox", ["sh", "-c", "echo hi > /etc/motd"], detach=True, name="nb06-commit-writer")
w.wait()
made = w.commit("localhost/nb06/motd:1")
w.remove()
k = lk.run(made, "sleep 30", detach=True, name="nb06-commit-reader")   # a container of the new image: its /etc/motd, through the kernel
motd = Path(f"/proc/{k.pid}/root/etc/motd")
says = motd.read_text().strip() if motd.exists() else ""
k.remove(force=True)
print(made, "says:", says, "|", len(store.get(made).layers), "layers")
lk.exercise("06.commit").verify(says_hi=says == "hi", one_more_layer=len(store.get(made).layers) == len(img.layers) + 1)

# exercise: 06.by-hand
import io, tarfile
base = store.get("busybox")
config = json.loads(store.read_blob(base.id))              # busybox's config and manifest: the new image builds on them
manifest = json.loads(store.read_blob(base.digest))
buf = io.BytesIO()
with tarfile.open(fileobj=buf, mode="w") as tar:           # the layer's files: one, etc/motd
    info = tarfile.TarInfo("etc/motd"); info.size = 8; info.mode = 0o644
    tar.addfile(info, io.BytesIO(b"by hand\n"))
layer_tar = buf.getvalue()
diff_id = "sha256:" + hashlib.sha256(layer_tar).hexdigest()                                              # 1. the layer's name in the config
layer, layer_size = store.put_blob(gzip.compress(layer_tar))                    # 2. the layer as the store and registries keep it
config["rootfs"]["diff_ids"].append(diff_id)
config_digest, config_size = store.put_blob(json.dumps(config).encode())
manifest["layers"].append({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": layer, "size": layer_size})                             # 3. the layer's descriptor: its mediaType, digest and size
manifest["config"] = {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config_size}                                   # 4. the new config's descriptor
store.tag("localhost/nb06/by-hand:1", *store.put_blob(json.dumps(manifest).encode()))
try:                                                       # the check: a container of it, its /etc/motd read through the kernel
    c = lk.run("localhost/nb06/by-hand:1", "sleep 30", detach=True, name="nb06-by-hand")
    motd = Path(f"/proc/{c.pid}/root/etc/motd").read_text()
    c.remove(force=True)
except lk.LabkitError as e:                                # labkit checks each layer against its diff_id as it unpacks it
    print(e)
    motd = ""
print("the container's /etc/motd:", repr(motd))
lk.exercise("06.by-hand").verify(gzipped=store.blob_path(layer).read_bytes()[:2] == b"\x1f\x8b", runs=motd == "by hand\n")
