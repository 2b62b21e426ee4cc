# Solutions of notebook 05's exercises (see 02-namespaces.py for how they are used).

# exercise: 05.whiteout
ov = stack()   # made again if the clean-up cell at the end removed it
if not (ov.merged / "bin" / "vi").exists():   # an earlier try deleted it: a new one, written over its whiteout
    (ov.merged / "bin" / "vi").write_text("#!/bin/sh\necho an editor\n")
os.remove(ov.merged / "bin" / "vi")
lk.exercise("05.whiteout").verify(gone=not os.path.lexists(ov.merged / "bin" / "vi"),
                                  lower_kept=(lower1 / "bin" / "vi").exists())
