"""What limits a cgroup has: plain data, close to the OCI runtime-spec's linux.resources.

    Resources(memory=67108864, pids=20)   <->   {"memory": {"limit": 67108864}, "pids": {"limit": 20}}

The drivers (v1.py, v2.py) decide which kernel files these become.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Resources:
    memory: int | None = None  # bytes; memory.limit_in_bytes (v1) / memory.max (v2)
    pids: int | None = None  # processes; pids.max on both

    def to_oci(self) -> dict:
        out: dict = {}
        if self.memory is not None:
            out["memory"] = {"limit": self.memory}
        if self.pids is not None:
            out["pids"] = {"limit": self.pids}
        return out

    @classmethod
    def from_oci(cls, res: dict | None) -> "Resources":
        res = res or {}
        return cls(
            memory=(res.get("memory") or {}).get("limit"),
            pids=(res.get("pids") or {}).get("limit"),
        )
