"""What limits a cgroup has: plain data, close to the OCI runtime-spec's linux.resources.

    Resources(memory=67108864, pids=20)   <->   {"memory": {"limit": 67108864}, "pids": {"limit": 20}}

Numbers here are already in kernel units (bytes, microseconds, shares); parsing "64M" or
"0.5 cpus" happens before (units.py). The drivers (v1.py, v2.py) decide which files these
become; the conversions between the versions' scales live here, once.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

CPU_PERIOD_US = 100_000  # the kernel's default CFS period: 100 ms


@dataclass(frozen=True)
class IOLimit:
    """A throttle on one block device, e.g. IOLimit("254:0", read_bps=1 << 20)."""

    device: str  # "MAJOR:MINOR", as in /proc/partitions or `lsblk -o MAJ:MIN`
    read_bps: int | None = None
    write_bps: int | None = None
    read_iops: int | None = None
    write_iops: int | None = None


@dataclass(frozen=True)
class DeviceRule:
    """One line of device access control, as OCI's linux.resources.devices and v1's devices.allow:
    DeviceRule(True, "c", 1, 3, "rwm") is "c 1:3 rwm" (/dev/null: read, write, mknod);
    DeviceRule(False) is "a *:* rwm" (every device, every access). None stands for "*"."""

    allow: bool
    type: str = "a"  # "c" character, "b" block, "a" all
    major: int | None = None
    minor: int | None = None
    access: str = "rwm"  # r read, w write, m mknod

    def line(self) -> str:
        """"c 1:3 rwm", "b *:* m", "a *:* rwm": the v1 devices controller's syntax."""
        star = lambda n: "*" if n is None else str(n)  # noqa: E731
        return f"{self.type} {star(self.major)}:{star(self.minor)} {self.access}"

    def to_oci(self) -> dict:
        out: dict = {"allow": self.allow, "access": self.access}
        if self.type != "a":
            out["type"] = self.type
        if self.major is not None:
            out["major"] = self.major
        if self.minor is not None:
            out["minor"] = self.minor
        return out

    @classmethod
    def from_oci(cls, d: dict) -> "DeviceRule":
        return cls(bool(d.get("allow")), d.get("type", "a"), d.get("major"), d.get("minor"), d.get("access", "rwm"))


@dataclass(frozen=True)
class Resources:
    memory: int | None = None  # bytes: v1 memory.limit_in_bytes, v2 memory.max
    memory_swap: int | None = None  # memory + swap, bytes (docker's --memory-swap); None: no swap at all
    memory_reservation: int | None = None  # soft limit: v1 memory.soft_limit_in_bytes, v2 memory.low
    memory_high: int | None = None  # v2 memory.high: throttle above this (v1 has no equivalent)
    cpu_quota: int | None = None  # microseconds per CPU_PERIOD_US: 50000 = half a CPU
    cpu_shares: int | None = None  # v1 scale, 2..262144 (1024 = normal); v2 gets cpu.weight
    cpuset_cpus: str | None = None  # "0-1", "0,2"
    cpuset_mems: str | None = None  # "0"
    pids: int | None = None  # pids.max on both
    io: tuple[IOLimit, ...] = field(default_factory=tuple)
    devices: tuple[DeviceRule, ...] = field(default_factory=tuple)  # in order; a later rule overrides

    def to_oci(self) -> dict:
        out: dict = {}
        if self.devices:
            out["devices"] = [d.to_oci() for d in self.devices]
        mem = {k: v for k, v in (("limit", self.memory), ("swap", self.memory_swap),
                                 ("reservation", self.memory_reservation)) if v is not None}
        if mem:
            out["memory"] = mem
        cpu = {k: v for k, v in (("quota", self.cpu_quota), ("shares", self.cpu_shares), ("cpus", self.cpuset_cpus),
                                 ("mems", self.cpuset_mems)) if v is not None}
        if self.cpu_quota is not None:
            cpu["period"] = CPU_PERIOD_US
        if cpu:
            out["cpu"] = cpu
        if self.pids is not None:
            out["pids"] = {"limit": self.pids}
        if self.io:
            keys = (("read_bps", "throttleReadBpsDevice"), ("write_bps", "throttleWriteBpsDevice"),
                    ("read_iops", "throttleReadIOPSDevice"), ("write_iops", "throttleWriteIOPSDevice"))
            blk: dict = {}
            for lim in self.io:
                major, minor = (int(x) for x in lim.device.split(":"))
                for attr, key in keys:
                    if getattr(lim, attr) is not None:
                        blk.setdefault(key, []).append({"major": major, "minor": minor, "rate": getattr(lim, attr)})
            out["blockIO"] = blk
        if self.memory_high is not None:
            out["unified"] = {"memory.high": str(self.memory_high)}
        return out

    @classmethod
    def from_oci(cls, res: dict | None) -> "Resources":
        res = res or {}
        mem, cpu = res.get("memory") or {}, res.get("cpu") or {}
        quota = cpu.get("quota")
        period = cpu.get("period") or CPU_PERIOD_US
        io: dict[str, dict] = {}
        keys = {"throttleReadBpsDevice": "read_bps", "throttleWriteBpsDevice": "write_bps",
                "throttleReadIOPSDevice": "read_iops", "throttleWriteIOPSDevice": "write_iops"}
        for key, attr in keys.items():
            for d in (res.get("blockIO") or {}).get(key, []):
                io.setdefault(f"{d['major']}:{d['minor']}", {})[attr] = d["rate"]
        high = (res.get("unified") or {}).get("memory.high")
        return cls(
            memory=mem.get("limit"), memory_swap=mem.get("swap"), memory_reservation=mem.get("reservation"),
            memory_high=int(high) if high is not None else None,
            cpu_quota=None if quota is None or quota < 0 else quota * CPU_PERIOD_US // period,
            cpu_shares=cpu.get("shares"), cpuset_cpus=cpu.get("cpus"), cpuset_mems=cpu.get("mems"),
            pids=(res.get("pids") or {}).get("limit"),
            io=tuple(IOLimit(dev, **v) for dev, v in io.items()),
            devices=tuple(DeviceRule.from_oci(d) for d in res.get("devices") or ()),
        )

    def set_fields(self) -> list[str]:
        return [f.name for f in fields(self) if getattr(self, f.name) not in (None, ())]


# The v1 shares <-> v2 weight conversion. v1 cpu.shares runs 2..262144 (default 1024);
# v2 cpu.weight runs 1..10000 (default 100). The line through (2, 1) and (262144, 10000) is the
# mapping runc, crun and the kernel docs use; the default 1024 lands on 39, not 100: the two
# scales do not share a midpoint, and that is worth showing a learner rather than hiding.
SHARES_MIN, SHARES_MAX, WEIGHT_MIN, WEIGHT_MAX = 2, 262144, 1, 10000


def shares_to_weight(shares: int) -> int:
    shares = min(max(shares, SHARES_MIN), SHARES_MAX)
    return WEIGHT_MIN + ((shares - SHARES_MIN) * (WEIGHT_MAX - WEIGHT_MIN)) // (SHARES_MAX - SHARES_MIN)


def weight_to_shares(weight: int) -> int:
    # Rounded up, so that weight -> shares -> weight gives the weight back (tests/test_units.py).
    weight = min(max(weight, WEIGHT_MIN), WEIGHT_MAX)
    return SHARES_MIN + -(-(weight - WEIGHT_MIN) * (SHARES_MAX - SHARES_MIN) // (WEIGHT_MAX - WEIGHT_MIN))
