"""The Docker Engine API on TCP, only when asked, and only on 127.0.0.1:

    labkit api tcp 2375        ->  docker -H tcp://127.0.0.1:2375 ps      (until `labkit api tcp off`
                                                                          or labkitd's end)

Whoever can talk to the API can run a container with the host's root filesystem mounted in it:
the API is root on the host. The Unix socket is root-only (0660); a TCP port on 127.0.0.1 is open
to every user and every process of this machine, so asking for it prints that warning, and any
address but 127.0.0.1 is refused (dockerd's -H tcp://0.0.0.0:2375 is the classic way to lose a host).
"""

from __future__ import annotations

import selectors
import socket

from ...errors import InvalidArgument, NotPermitted

WARNING = ("the Docker API is now on tcp://127.0.0.1:{port}: any user or process on this machine can reach it, "
           "and the API is root on this host (a container can mount /). Turn it off with `labkit api tcp off`.")


class TcpListener:
    def __init__(self, sup, port: int):
        self.sup, self.port = sup, port
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self.sock.bind(("127.0.0.1", port))
        except OSError as e:
            self.sock.close()
            raise InvalidArgument(f"cannot listen on 127.0.0.1:{port}: {e.strerror}",
                                  hint="pick another port, e.g. `labkit api tcp 2376`.") from None
        self.sock.listen(128)
        self.sock.setblocking(False)
        self.closed = False

    def loop_wants(self) -> dict | None:
        return None if self.closed else {self.sock.fileno(): (self, lambda ev: self.accept(), selectors.EVENT_READ)}

    def accept(self) -> None:
        self.sup.accept(self.sock, self.sup._http_conn)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.sock.close()


class DockerTcp:
    def op_docker_tcp(self, conn, req, fds) -> dict:
        """{"port": 2375} opens it (a port already open moves), {"port": null} closes it;
        {"host": "0.0.0.0"} is refused."""
        host, port = req.get("host") or "127.0.0.1", req.get("port")
        if host not in ("127.0.0.1", "localhost"):
            raise NotPermitted(f"the Docker API listens on 127.0.0.1 only, not {host}",
                               hint="the API is root on this host: on another address anyone who reaches it owns the "
                                    "machine. From elsewhere, tunnel: ssh -L 2375:127.0.0.1:2375 you@this-vm.")
        if port is not None and (type(port) is not int or not 1 <= port <= 65535):
            raise InvalidArgument(f"port {port!r} is not a TCP port", hint="e.g. 2375.")
        if self.docker_tcp is not None:
            self._rewatch(self.docker_tcp, {})  # out of the selector before its descriptor closes (loop.py)
            self.docker_tcp.close()
            self.docker_tcp = None
        if port is None:
            return {"tcp": None}
        self.docker_tcp = TcpListener(self, port)
        self.dirty.add(self.docker_tcp)
        return {"tcp": f"tcp://127.0.0.1:{port}", "warning": WARNING.format(port=port)}
