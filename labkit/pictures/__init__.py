"""Drawings a learner would rather look at than read, as SVG (crisp in JupyterLab, no matplotlib).

    lk.pictures.sees_and_uses()        # namespaces (what a process sees) beside cgroups (what it may use)
    lk.pictures.sees_and_uses(c)       # ... filled in from a running container: its inodes, its limits
    lk.pictures.client_server()        # the clients, labkitd and its sockets, the containers, a registry
    lk.pictures.cgroup_files(c)        # a container's cgroup: its folder, its files, what each holds now
    lk.pictures.walls(lk.escape_attempts(c))   # each escape attempt, and the lock that stopped it
    lk.pictures.vm_and_container(side) # a VM's stack beside a container's, with what each cost (notebook 01)

cloud_models() draws 01's cloud service models. One notebook's summary each: lifecycle() (07), by_hand_levels() (04), registry_requests() (10),
layers(ov) (05), image_layers(name) (06), run_flow(r) (08).

Every label comes from the message catalog (labkit/messages/<lang>.toml, entries
"picture.*"), so a translation draws them in its own language. A terminal gets a text outline.
"""

from __future__ import annotations

from .drawing import Picture
from .flows import client_server, cloud_models, run_flow, vm_and_container
from .processes import CONTROLLERS, NAMESPACES, by_hand_levels, cgroup_files, lifecycle, sees_and_uses, walls
from .storage import image_layers, layers, registry_requests

__all__ = ["Picture", "client_server", "cloud_models", "run_flow", "vm_and_container", "CONTROLLERS", "NAMESPACES", "by_hand_levels",
           "cgroup_files", "lifecycle", "sees_and_uses", "walls", "image_layers", "layers", "registry_requests"]
