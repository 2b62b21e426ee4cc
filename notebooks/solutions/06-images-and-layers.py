# Solutions of notebook 06's exercises (see 02-namespaces.py for how they are used).

# exercise: 06.layer-id
compressed = store.blob_path(layer_digest).read_bytes()
mine = "sha256:" + hashlib.sha256(gzip.decompress(compressed)).hexdigest()
print(mine)
lk.exercise("06.layer-id").verify(matches_config=mine == img.config["rootfs"]["diff_ids"][0],
                                  not_the_blob=mine != layer_digest)

# exercise: 06.commit
w = lk.run("busybox", ["sh", "-c", "echo hi > /etc/motd"], detach=True, name="nb06-writer")
w.wait()
made = w.commit("localhost/nb06/motd:1")
w.remove()
says = lk.run(made, "cat /etc/motd", rm=True, stream=False).stdout.strip()
print(made, "says:", says, "|", len(store.get(made).layers), "layers")
lk.exercise("06.commit").verify(says_hi=says == "hi", one_more_layer=len(store.get(made).layers) == len(img.layers) + 1)
