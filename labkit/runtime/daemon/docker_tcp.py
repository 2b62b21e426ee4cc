"""The Docker Engine API on TCP, only when asked, and only on 127.0.0.1:

    labkit api tcp 2375        ->  docker -H tcp://127.0.0.1:2375 ps      (until `labkit api tcp off`
                                                                          or labkitd's end)

Whoever can talk to the API can run a container with the host's root filesystem mounted in it:
the API is root on the host. The Unix socket is root-only (0660); a TCP port on 127.0.0.1 is open
to every user and every process of this machine, so asking for it prints that warning, and any
address but 127.0.0.1 is refused (dockerd's -H tcp://0.0.0.0:2375 is the classic way to lose a host).
"""

from __future__ import annotations

import socket

from ...errors import InvalidArgument, NotPermitted

WARNING = ("the Docker API is now on tcp://127.0.0.1:{port}: any user or process on this machine can reach it, "
           "and the API is root on this host (a container can mount /). Turn it off with `labkit api tcp off`.")


def open_socket(port, host: str = "127.0.0.1") -> socket.socket | None:
    """A listening socket on 127.0.0.1:port (port None: none). Any host but 127.0.0.1 is refused,
    and so is a port that is not one (or is taken)."""
    if host not in ("127.0.0.1", "localhost"):
        raise NotPermitted("error.runtime.docker-api-listens-only", host=host)
    if port is None:
        return None
    if type(port) is not int or not 1 <= port <= 65535:
        raise InvalidArgument("error.runtime.port-tcp-port", port=port)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(("127.0.0.1", port))
    except OSError as e:
        sock.close()
        raise InvalidArgument("error.runtime.cannot-listen", port=port, strerror=e.strerror) from None
    sock.listen(128)
    return sock
