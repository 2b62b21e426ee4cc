# 笔记本 06 练习的解答（用法见 02-namespaces.py）。

# exercise: 06.layer-id
compressed = store.blob_path(layer_digest).read_bytes()
mine = "sha256:" + hashlib.sha256(gzip.decompress(compressed)).hexdigest()
print(mine)
lk.exercise("06.layer-id").verify(matches_config=mine == img.config["rootfs"]["diff_ids"][0],
                                  not_the_blob=mine != layer_digest)

# exercise: 06.commit
lk.tidy("nb06-commit")                   # 上一次尝试留下的东西
w = lk.run("busybox", ["sh", "-c", "echo hi > /etc/motd"], detach=True, name="nb06-commit-writer")
w.wait()
made = w.commit("localhost/nb06/motd:1")
w.remove()
k = lk.run(made, "sleep 30", detach=True, name="nb06-commit-reader")   # 用新镜像起一个容器：通过内核读它的 /etc/motd
motd = Path(f"/proc/{k.pid}/root/etc/motd")
says = motd.read_text().strip() if motd.exists() else ""
k.remove(force=True)
print(made, "says:", says, "|", len(store.get(made).layers), "layers")
lk.exercise("06.commit").verify(says_hi=says == "hi", one_more_layer=len(store.get(made).layers) == len(img.layers) + 1)

# exercise: 06.by-hand
import io, tarfile
base = store.get("busybox")
config = json.loads(store.read_blob(base.id))              # busybox 的配置和清单：新镜像在它们之上构建
manifest = json.loads(store.read_blob(base.digest))
buf = io.BytesIO()
with tarfile.open(fileobj=buf, mode="w") as tar:           # 这一层的文件：只有一个，etc/motd
    info = tarfile.TarInfo("etc/motd"); info.size = 8; info.mode = 0o644
    tar.addfile(info, io.BytesIO(b"by hand\n"))
layer_tar = buf.getvalue()
diff_id = "sha256:" + hashlib.sha256(layer_tar).hexdigest()                                              # 1. 这一层在配置中的名字
layer, layer_size = store.put_blob(gzip.compress(layer_tar))                    # 2. 存储和仓库保存的这一层
config["rootfs"]["diff_ids"].append(diff_id)
config_digest, config_size = store.put_blob(json.dumps(config).encode())
manifest["layers"].append({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": layer, "size": layer_size})                             # 3. 这一层的描述符：mediaType、摘要和大小
manifest["config"] = {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config_size}                                   # 4. 新配置的描述符
store.tag("localhost/nb06/by-hand:1", *store.put_blob(json.dumps(manifest).encode()))
try:                                                       # 检查：用它起一个容器，通过内核读取它的 /etc/motd
    c = lk.run("localhost/nb06/by-hand:1", "sleep 30", detach=True, name="nb06-by-hand")
    motd = Path(f"/proc/{c.pid}/root/etc/motd").read_text()
    c.remove(force=True)
except lk.LabkitError as e:                                # labkit 在解包每一层时都会用它的 diff_id 核对
    print(e)
    motd = ""
print("the container's /etc/motd:", repr(motd))
lk.exercise("06.by-hand").verify(gzipped=store.blob_path(layer).read_bytes()[:2] == b"\x1f\x8b", runs=motd == "by hand\n")
