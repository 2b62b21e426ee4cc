"""The Docker Engine API's volume and network endpoints: `docker volume create|ls|inspect|rm` and
`docker network ls|create|inspect|rm|connect|disconnect`, over volumes.py and network_ops.py.

    POST /volumes/create {"Name": "cache"}              -> 201 {"Name": "cache", "Driver": "local", "Mountpoint": ...}
    GET  /volumes                                       -> {"Volumes": [...], "Warnings": []}
    POST /networks/create {"Name": "backend", "IPAM": {"Config": [{"Subnet": "10.231.7.0/24"}]}}  -> 201 {"Id": ...}
    POST /networks/backend/connect {"Container": "web"} -> 200
"""

from __future__ import annotations

from ... import errors
from ...api import filters, shapes
from ...filesystems import volumes


def _volume(rec: dict) -> dict:
    out = {k: v for k, v in rec.items() if k != "Anonymous"}
    if rec.get("Anonymous"):
        out["Labels"] = dict(rec.get("Labels") or {}, **{"com.docker.volume.anonymous": ""})
    return out


def _json(req) -> dict:
    try:
        body = req.json() if req.body else {}
    except ValueError as e:
        raise errors.InvalidArgument("error.runtime.body-json", e=e) from None
    if not isinstance(body, dict):
        raise errors.InvalidArgument("error.runtime.body-json-object")
    return body


class DockerResources:
    """Volumes and networks, over filesystems/volumes.py and the service's networks part."""

    def __init__(self, api):
        self.api = api
        self.inst = api.inst

    # -- volumes ----------------------------------------------------------------------------------------
    def volumes(self, conn, req, ident) -> None:
        want = filters.parse(req.query.get("filters"), ("name", "dangling", "driver", "label"))
        filters.check_choice(want, "dangling", ("true", "false", "1", "0"))
        rows = []
        for v in volumes.ls(self.inst):
            if "name" in want and not any(filters.pattern(w).search(v["Name"]) for w in want["name"]):
                continue
            if "driver" in want and v.get("Driver", "local") not in want["driver"]:
                continue
            # dangling=true: no container mounts it
            if "dangling" in want and not any((not volumes.users(self.inst, v["Name"])) == (d in ("true", "1"))
                                              for d in want["dangling"]):
                continue
            if not filters.labels_match(want.get("label", []), v.get("Labels") or {}):
                continue
            rows.append(_volume(v))
        conn.respond(200, {"Volumes": rows, "Warnings": []})

    def volume_create(self, conn, req, ident) -> None:
        body = _json(req)
        if (body.get("Driver") or "local") != "local":
            raise errors.InvalidArgument("error.runtime.volume-driver-here-labkit", body_driver=body['Driver'])
        conn.respond(201, _volume(volumes.create(self.inst, body.get("Name") or None, body.get("Labels") or None)))

    def volume_inspect(self, conn, req, ident) -> None:
        conn.respond(200, _volume(self._volume_named(ident)))

    def volume_remove(self, conn, req, ident) -> None:
        self._volume_named(ident)
        volumes.remove(self.inst, ident)
        conn.respond(204)

    def _volume_named(self, name: str) -> dict:
        try:
            return volumes.get(self.inst, name)
        except (errors.NotFound, errors.InvalidArgument):
            raise errors.NotFound("error.runtime.get-no-such-volume", name=name) from None

    # -- networks ---------------------------------------------------------------------------------------
    def _network_shape(self, n: dict) -> dict:
        return {"Name": n["name"], "Id": n["id"], "Driver": "bridge", "Scope": "local", "Created": shapes.iso(n["created"]),
                "EnableIPv6": False, "Internal": False, "Attachable": False, "Labels": n.get("labels") or {},
                "IPAM": {"Driver": "default", "Config": [{"Subnet": n["subnet"], "Gateway": n["gateway"]}]},
                "Options": {"com.docker.network.bridge.name": n["bridge"]},
                "Containers": {cid: {"Name": e["name"], "IPv4Address": f"{e['ip']}/{n['subnet'].split('/')[1]}",
                                     "MacAddress": e.get("mac", "")} for cid, e in n["endpoints"].items()}}

    def networks(self, conn, req, ident) -> None:
        """`docker network ls`: the lab's networks, and Docker's built-in host and none."""
        from ...network import networks as nets

        want = filters.parse(req.query.get("filters"), ("name", "id", "driver", "label", "type"))
        filters.check_choice(want, "type", ("custom", "builtin"))
        out = [self._network_shape(n) for n in nets.list_all(self.inst)]
        names = {n["Name"] for n in out}
        out += [{"Name": m, "Id": m, "Driver": m, "Scope": "local", "Created": shapes.iso(0), "IPAM": {"Config": []},
                 "Containers": {}, "Labels": {}} for m in ("host", "none") if m not in names]
        builtin = {"host", "none", "bridge"}
        out = [n for n in out
               if ("name" not in want or any(filters.pattern(w).search(n["Name"]) for w in want["name"]))
               and ("id" not in want or any(n["Id"].startswith(w) for w in want["id"]))
               and ("driver" not in want or n["Driver"] in want["driver"])
               and ("type" not in want or ("builtin" if n["Name"] in builtin else "custom") in want["type"])
               and filters.labels_match(want.get("label", []), n.get("Labels") or {})]
        conn.respond(200, out)

    def _network_named(self, ident: str) -> dict:
        """A network by name, ID or an ID's first characters, as the CLI sends any of them."""
        from ...network import networks as nets

        found = [n for n in nets.list_all(self.inst) if ident in (n["name"], n["id"]) or n["id"].startswith(ident)]
        if len(found) != 1:
            raise errors.NotFound("error.runtime.network-found", ident=ident)
        return found[0]

    def network_inspect(self, conn, req, ident) -> None:
        conn.respond(200, self._network_shape(self._network_named(ident)))

    def network_create(self, conn, req, ident) -> None:
        body = _json(req)
        if (body.get("Driver") or "bridge") != "bridge":
            raise errors.InvalidArgument("error.runtime.network-driver-here-labkit", body_driver=body['Driver'])
        configs = ((body.get("IPAM") or {}).get("Config") or [{}])
        subnet = (configs[0] or {}).get("Subnet") if isinstance(configs, list) and configs else None
        net = self.api.svc.networks.create(body.get("Name"), subnet=subnet, labels=body.get("Labels"))
        conn.respond(201, {"Id": net["id"], "Warning": ""})

    def network_remove(self, conn, req, ident) -> None:
        self.api.svc.networks.remove(self._network_named(ident)["name"])
        conn.respond(204)

    def network_connect(self, conn, req, ident) -> None:
        net = self._network_named(ident)
        cid, _ = self.api.record(str(_json(req).get("Container", "")))
        self.api.svc.networks.connect(cid, net["name"])
        conn.respond(200, b"", content_type="text/plain")

    def network_disconnect(self, conn, req, ident) -> None:
        net = self._network_named(ident)
        cid, _ = self.api.record(str(_json(req).get("Container", "")))
        self.api.svc.networks.disconnect(cid, net["name"])
        conn.respond(200, b"", content_type="text/plain")
