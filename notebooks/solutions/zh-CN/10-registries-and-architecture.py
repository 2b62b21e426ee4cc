# 笔记本 10 练习的解答：每个解答以它的 "# exercise: ID" 行开头，测试“带解答运行”笔记本时
# 替换那个 ID 的单元格（tests/test_notebooks.py）。它们也是学员能展开的
# 最后一级提示。

# exercise: 10.raw-list
lk.tidy("nb10-listed")   # 上一次尝试留下的东西
listed = lk.run("busybox", "true", name="nb10-listed")      # 已退出：只有 ?all=1 才会列出它
r = lk.api.request("GET", "/v1.47/containers/json?all=1")
answer = r.json() if r.status == 200 else None
names = [n for item in answer for n in item.get("Names", [])] if isinstance(answer, list) else []
print(r.status, names)
lk.container("nb10-listed").remove()
lk.exercise("10.raw-list").verify(ok=r.status == 200, listed="/nb10-listed" in names)

# exercise: 10.push-by-hand
import socket as _socket, httpx
from labkit.images.store import ImageStore
from labkit.paths import instance
s = _socket.socket(); s.bind(("127.0.0.1", 0)); free = s.getsockname()[1]; s.close()
lk.registry.stop()                                         # 上面的单元格留下的还在运行的那个（如果有）
shutil.rmtree(lk.registry.data_dir() / "docker/registry/v2/repositories/nb10/by-hand", ignore_errors=True)   # 之前一次尝试推送的
reg = lk.registry.start(port=free)                        # 一个自己的仓库，在单元格结束时停止
base = f"http://{reg.host}/v2/nb10/by-hand"                # 它上面的仓库 nb10/by-hand
store = ImageStore(instance())
image = store.get("busybox")
blobs = [digest for digest, _ in image.layers] + [image.id]   # 它的层，然后是它的配置：每个都以自己的 sha256 命名

def upload(digest: str) -> int:
    data = store.read_blob(digest)
    started = httpx.post(f"{base}/blobs/uploads/")   # 1. 开始上传：向仓库的 blobs/uploads/ 发一个 POST；留下应答
    done = httpx.put(started.headers["Location"] + "&digest=" + digest, content=data)   # 2. 用一个 PUT 把字节发到应答的 Location 头指向的地方，在查询参数里加上摘要
    return done.status_code

try:
    for digest in blobs:
        print(digest[:19], "->", upload(digest))
    manifest = store.read_blob(image.digest)               # 清单的字节：它们的 sha256 就是清单的摘要
    httpx.put(f"{base}/manifests/1", content=manifest, headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"})   # 3. 清单，标签为 1：向仓库的 manifests/1 发一个 PUT，Content-Type 是它的媒体类型
    # 检查：仓库自己的回答（每个 blob 的 HEAD，它算出的清单摘要），
    # 然后用实验室的客户端拉取，它会核对收到的每个摘要
    held = [httpx.head(f"{base}/blobs/{d}").status_code for d in blobs]
    answer = httpx.get(f"{base}/manifests/1", headers={"Accept": "application/vnd.oci.image.manifest.v1+json"})
    try:
        pulled = lk.pull(f"{reg.host}/nb10/by-hand:1", progress=False)
        lk.rmi(f"{reg.host}/nb10/by-hand:1")
    except lk.LabkitError as e:
        print(e); pulled = None
finally:
    lk.registry.stop()
print("blobs held:", held, "| manifest:", answer.status_code, answer.headers.get("Docker-Content-Digest", "")[:19])
lk.exercise("10.push-by-hand").verify(
    blobs_held=held == [200] * len(blobs),
    manifest_held=answer.status_code == 200 and answer.headers.get("Docker-Content-Digest") == image.digest,
    pulled=pulled is not None and pulled.layers == image.layers)
