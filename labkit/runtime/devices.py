"""The device nodes every container gets. The OCI runtime spec: a runtime MUST supply /dev/null,
/dev/zero, /dev/full, /dev/random, /dev/urandom and /dev/tty, whether config.json lists them or not.

(path, major, minor), all character devices, mode 0666 (`ls -l /dev/null`: "crw-rw-rw- 1, 3").
"""

REQUIRED = (("/dev/null", 1, 3), ("/dev/zero", 1, 5), ("/dev/full", 1, 7),
            ("/dev/random", 1, 8), ("/dev/urandom", 1, 9), ("/dev/tty", 5, 0))
