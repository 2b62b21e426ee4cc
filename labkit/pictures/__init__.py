"""Drawings a learner would rather look at than read, as SVG (crisp in JupyterLab, no matplotlib).

    lk.pictures.sees_and_uses()        # namespaces (what a process sees) beside cgroups (what it may use)
    lk.pictures.sees_and_uses(c)       # ... filled in from a running container: its inodes, its limits
    lk.pictures.client_server()        # the clients, labkitd and its sockets, the containers, a registry

Every label comes from the message catalog (labkit/exercises/messages/<lang>.toml, entries
"picture.*"), so a translation draws them in its own language. A terminal gets a text outline.
"""

from __future__ import annotations

from .drawing import Picture
from .flows import client_server, run_flow
from .processes import CONTROLLERS, NAMESPACES, sees_and_uses
from .storage import image_layers, layers

__all__ = ["Picture", "client_server", "run_flow", "CONTROLLERS", "NAMESPACES", "sees_and_uses", "image_layers", "layers"]
