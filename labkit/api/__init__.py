"""labkitd's second protocol, the Docker Engine API: HTTP on a non-blocking connection (http.py),
Docker's JSON shapes of labkit's records (shapes.py), and lk.api for a learner to look at it (client.py)."""

from .client import listen_tcp, request, requests, socket

__all__ = ["listen_tcp", "request", "requests", "socket"]  # lk.api.request(), .requests(), .socket()
