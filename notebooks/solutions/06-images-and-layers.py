# Solutions of notebook 06's exercises (see 02-namespaces.py for how they are used).

# exercise: 06.layer-id
compressed = store.blob_path(layer_digest).read_bytes()
mine = "sha256:" + hashlib.sha256(gzip.decompress(compressed)).hexdigest()
print(mine)
lk.exercise("06.layer-id").verify(matches_config=mine == img.config["rootfs"]["diff_ids"][0],
                                  not_the_blob=mine != layer_digest)
