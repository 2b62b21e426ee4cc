"""Which devices a container may use: Docker's default rules, and how each cgroup version enforces them.

A container is root inside, and root may `mknod /lp b 7 0`: without these rules, reading and writing
that node reaches the host's loop device (on an ordinary VM the same reaches its disk). The rules
deny every device, then allow the few a program needs; making a node (mknod) is allowed for any
device, opening one is not (Docker's defaults, as runc writes them):

    a *:* rwm   deny                      c 1:3 rwm  /dev/null      c 5:0 rwm   /dev/tty
    c *:* m     allow (mknod only)        c 1:5 rwm  /dev/zero      c 5:1 rwm   /dev/console
    b *:* m     allow (mknod only)        c 1:7 rwm  /dev/full      c 5:2 rwm   /dev/ptmx
                                          c 1:8 rwm  /dev/random    c 136:* rwm /dev/pts/*
                                          c 1:9 rwm  /dev/urandom

cgroup v1 has a devices controller: the rules are lines written to devices.deny and devices.allow.
cgroup v2 has none: the kernel asks an eBPF program attached to the group (BPF_CGROUP_DEVICE) at
every open and mknod of a device node, and program() below writes that program:

    0: r2 = *(u32 *)(r1 + 0)    ; access_type: (access << 16) | type
    1: r2 &= 0xffff             ; r2 = type: 1 block, 2 character
    2: r3 = *(u32 *)(r1 + 0)
    3: r3 >>= 16                ; r3 = access: 1 mknod, 2 read, 4 write
    4: r4 = *(u32 *)(r1 + 4)    ; r4 = major
    5: r5 = *(u32 *)(r1 + 8)    ; r5 = minor
       ... per rule, the last first: if every part matches, r0 = 1 (allow) or 0 (deny); exit
       r0 = 0; exit             ; nothing matched: deny
"""

from __future__ import annotations

import struct

from ..cgroups.resources import DeviceRule

#: Docker's default device rules (runc's AllowedDevices), in order: a later rule overrides an earlier one.
DOCKER_DEFAULT = (
    DeviceRule(False, "a", None, None, "rwm"),
    DeviceRule(True, "c", None, None, "m"),
    DeviceRule(True, "b", None, None, "m"),
    DeviceRule(True, "c", 1, 3, "rwm"),    # /dev/null
    DeviceRule(True, "c", 1, 5, "rwm"),    # /dev/zero
    DeviceRule(True, "c", 1, 7, "rwm"),    # /dev/full
    DeviceRule(True, "c", 1, 8, "rwm"),    # /dev/random
    DeviceRule(True, "c", 1, 9, "rwm"),    # /dev/urandom
    DeviceRule(True, "c", 5, 0, "rwm"),    # /dev/tty
    DeviceRule(True, "c", 5, 1, "rwm"),    # /dev/console
    DeviceRule(True, "c", 5, 2, "rwm"),    # /dev/ptmx
    DeviceRule(True, "c", 136, None, "rwm"),  # /dev/pts/*
)

NAMES = {(1, 3): "/dev/null", (1, 5): "/dev/zero", (1, 7): "/dev/full", (1, 8): "/dev/random", (1, 9): "/dev/urandom",
         (5, 0): "/dev/tty", (5, 1): "/dev/console", (5, 2): "/dev/ptmx", (136, None): "/dev/pts/*"}


def v1_writes(rules) -> list[tuple[str, str]]:
    """(file, line) pairs for the v1 devices controller: [("devices.deny", "a *:* rwm"), ("devices.allow", "c 1:3 rwm"), ...]."""
    return [("devices.allow" if r.allow else "devices.deny", r.line()) for r in rules]


# -- eBPF for cgroup v2 ---------------------------------------------------------------------------------
# struct bpf_insn { __u8 code; __u8 dst_reg:4, src_reg:4; __s16 off; __s32 imm; }
LDX_W, AND_K, RSH_K, MOV_X, MOV_K, JNE_K, EXIT = 0x61, 0x57, 0x77, 0xBF, 0xB7, 0x55, 0x95
DEV_BLOCK, DEV_CHAR = 1, 2
ACC_MKNOD, ACC_READ, ACC_WRITE = 1, 2, 4


def program(rules) -> list[tuple[int, int, int, int, int, str]]:
    """Instructions (code, dst, src, off, imm, comment) of a BPF_PROG_TYPE_CGROUP_DEVICE program
    that returns 1 (allow) or 0 (deny) as the last matching rule says; nothing matching: deny."""
    prog = [(LDX_W, 2, 1, 0, 0, "r2 = access_type"), (AND_K, 2, 0, 0, 0xFFFF, "r2 = device type (1 block, 2 char)"),
            (LDX_W, 3, 1, 0, 0, "r3 = access_type"), (RSH_K, 3, 0, 0, 16, "r3 = access (1 mknod, 2 read, 4 write)"),
            (LDX_W, 4, 1, 4, 0, "r4 = major"), (LDX_W, 5, 1, 8, 0, "r5 = minor")]
    for rule in reversed(tuple(rules)):
        tests: list[list] = []  # instructions; jumps get their offset once the block's length is known
        if rule.type != "a":
            tests.append([JNE_K, 2, 0, None, DEV_BLOCK if rule.type == "b" else DEV_CHAR, f"type {rule.type}?"])
        acc = sum(bit for ch, bit in (("m", ACC_MKNOD), ("r", ACC_READ), ("w", ACC_WRITE)) if ch in rule.access)
        if acc != ACC_MKNOD | ACC_READ | ACC_WRITE:
            tests.append([MOV_X, 1, 3, 0, 0, "r1 = access"])
            tests.append([AND_K, 1, 0, 0, ~acc & 0x7, f"r1 &= what '{rule.access}' does not allow"])
            tests.append([JNE_K, 1, 0, None, 0, f"only '{rule.access}' asked?"])
        if rule.major is not None:
            tests.append([JNE_K, 4, 0, None, rule.major, f"major {rule.major}?"])
        if rule.minor is not None:
            tests.append([JNE_K, 5, 0, None, rule.minor, f"minor {rule.minor}?"])
        what = NAMES.get((rule.major, rule.minor), rule.line())
        block = tests + [[MOV_K, 0, 0, 0, int(rule.allow), f"{'allow' if rule.allow else 'deny'} {what}"],
                         [EXIT, 0, 0, 0, 0, "return r0"]]
        for i, ins in enumerate(block):
            if ins[3] is None:  # a failed test skips the rest of this rule's block
                ins[3] = len(block) - i - 1
        prog += [tuple(ins) for ins in block]
        if not tests:  # it matches every access: what follows could never run (the verifier refuses that)
            return prog
    prog += [(MOV_K, 0, 0, 0, 0, "no rule matched: deny"), (EXIT, 0, 0, 0, 0, "return r0")]
    return prog


def assemble(prog) -> bytes:
    return b"".join(struct.pack("=BBhi", code, dst | (src << 4), off, imm) for code, dst, src, off, imm, _ in prog)


def disassemble(prog) -> str:
    """The program in the kernel's own notation (as `bpftool prog dump xlated` prints it)."""
    lines = []
    for i, (code, dst, src, off, imm, comment) in enumerate(prog):
        text = {LDX_W: f"r{dst} = *(u32 *)(r{src} + {off})", AND_K: f"r{dst} &= {imm:#x}", RSH_K: f"r{dst} >>= {imm}",
                MOV_X: f"r{dst} = r{src}", MOV_K: f"r{dst} = {imm}", JNE_K: f"if r{dst} != {imm} goto +{off}",
                EXIT: "exit"}.get(code, f"{code:#x}")
        lines.append(f"{i:3d}: {text:<28} ; {comment}")
    return "\n".join(lines)


def for_config(config: dict) -> tuple:
    """The rules to enforce for an OCI config.json: its own linux.resources.devices, then an allow
    rule for each node the runtime makes in its /dev (the OCI spec's required ones and linux.devices),
    as runc does; Docker's defaults when it has no rules at all (a config from before they existed)."""
    from ..runtime.devices import REQUIRED

    linux = config.get("linux") or {}
    given = (linux.get("resources") or {}).get("devices")
    if not given:
        return DOCKER_DEFAULT
    rules = [DeviceRule.from_oci(d) for d in given]
    made = [(d.get("type", "c"), d["major"], d["minor"]) for d in linux.get("devices") or [] if "major" in d]
    made += [("c", major, minor) for _, major, minor in REQUIRED]
    rules += [DeviceRule(True, t, major, minor, "rwm") for t, major, minor in made
              if DeviceRule(True, t, major, minor, "rwm") not in rules]
    return tuple(rules)
