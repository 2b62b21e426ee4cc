# Solutions of notebook 05's exercises (see 02-namespaces.py for how they are used).

# exercise: 05.whiteout
os.remove(ov.merged / "bin" / "vi")
lk.exercise("05.whiteout").verify(gone=not os.path.lexists(ov.merged / "bin" / "vi"),
                                  lower_kept=(lower1 / "bin" / "vi").exists())
