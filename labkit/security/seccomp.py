"""A seccomp filter: the system calls a container may not make, and the BPF program that refuses them.

Docker's default profile is an allowlist of ~370 calls; its effect, for a container with Docker's
default capabilities, is that the calls below fail with EPERM. labkit writes that effect as a
short denylist, which a learner can read in one screen, in the OCI runtime-spec's format
(config.json's `linux.seccomp`, which runc reads too):

    {"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64"],
     "syscalls": [{"names": ["keyctl", "add_key", ...], "action": "SCMP_ACT_ERRNO", "errnoRet": 1},
                  {"names": ["clone"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1,
                   "args": [{"index": 0, "value": 268435456, "valueTwo": 268435456, "op": "SCMP_CMP_MASKED_EQ"}]},
                  ...]}

compile() turns such a profile into classic BPF for seccomp(2); disassemble() shows it:

    0000: ld  [4]                      ; A = seccomp_data.arch
    0001: jeq #0xc000003e, 1, 0        ; x86_64?
    0002: ret #0x80000000              ; another ABI (32-bit int 0x80, ...): kill the process
    0003: ld  [0]                      ; A = seccomp_data.nr
    0004: jge #0x40000000, 0, 1        ; an x32 call?
    ...
    0012: jeq #250, 0, 1               ; keyctl
    0013: ret #0x50001                 ; ERRNO(1): EPERM

A denylist lets new system calls through that an allowlist would refuse; in exchange every other
ABI (32-bit and x32 calls, which a denylist by numbers would miss) is refused outright.
"""

from __future__ import annotations

import errno
import os
import struct

from ..kernel import namespace_kinds
from ..kernel.syscall_numbers import NUMBERS  # a call a machine lacks is left out of its filter, as runc does

# Return values of a seccomp filter, from <linux/seccomp.h>.
RET_KILL_PROCESS = 0x80000000
RET_KILL_THREAD = 0x00000000
RET_ERRNO = 0x00050000
RET_LOG = 0x7FFC0000
RET_ALLOW = 0x7FFF0000

#: The audit architecture of each machine (<linux/audit.h>), and libseccomp's name for it.
ARCH = {"x86_64": (0xC000003E, "SCMP_ARCH_X86_64"), "aarch64": (0xC00000B7, "SCMP_ARCH_AARCH64")}
X32_SYSCALL_BIT = 0x40000000  # x86_64: calls of the x32 ABI have this bit set in their number

#: Why each group is refused, by the ID of its reason (the catalog's "seccomp" entry has the words): the
#: notebook shows these beside what the container tried.
DENIED = (
    ("keyrings",
     ("keyctl", "add_key", "request_key")),
    ("namespaces",
     ("unshare", "setns")),
    ("mounting",
     ("mount", "umount2", "pivot_root", "move_mount", "open_tree", "fsopen", "fsconfig", "fsmount", "fspick",
      "mount_setattr")),
    ("kernel-code",
     ("init_module", "finit_module", "delete_module", "create_module", "query_module", "get_kernel_syms",
      "kexec_load", "kexec_file_load")),
    ("kernel-surfaces",
     ("bpf", "perf_event_open", "io_uring_setup", "io_uring_enter", "io_uring_register", "userfaultfd")),
    ("handles",
     ("open_by_handle_at", "name_to_handle_at")),
    ("host-clock",
     ("clock_settime", "clock_adjtime", "settimeofday", "reboot", "swapon", "swapoff", "quotactl", "quotactl_fd",
      "acct", "syslog", "vhangup")),
    ("host-memory",
     ("mbind", "set_mempolicy", "get_mempolicy", "set_mempolicy_home_node", "move_pages", "ioperm", "iopl")),
    ("old-calls",
     ("kcmp", "lookup_dcookie", "nfsservctl", "sysfs", "_sysctl", "uselib", "ustat", "fanotify_init")),
)

#: clone's namespace flags (<linux/sched.h>): clone() with any of them is refused, plain clone is fine.
CLONE_NAMESPACE_FLAGS = {k.flag_name: k.flag for k in namespace_kinds.KINDS}
EPERM, ENOSYS = 1, 38


def machine() -> str:
    return os.uname().machine


def default_profile(arch: str | None = None) -> dict:
    """The OCI `linux.seccomp` section labkit writes into every container's config.json."""
    arch = arch or machine()
    names = [n for _, group in DENIED for n in group]
    rules = [{"names": names, "action": "SCMP_ACT_ERRNO", "errnoRet": EPERM}]
    # clone with a namespace flag: one rule per flag ((flags & FLAG) == FLAG), as OCI's args can say it.
    rules += [{"names": ["clone"], "action": "SCMP_ACT_ERRNO", "errnoRet": EPERM, "comment": name,
               "args": [{"index": 0, "value": flag, "valueTwo": flag, "op": "SCMP_CMP_MASKED_EQ"}]}
              for name, flag in CLONE_NAMESPACE_FLAGS.items()]
    # clone3 passes its flags in memory a filter cannot read: ENOSYS makes libc fall back to clone.
    rules.append({"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": ENOSYS})
    return {"defaultAction": "SCMP_ACT_ALLOW", "architectures": [ARCH[arch][1]] if arch in ARCH else [],
            "syscalls": rules}


def why(name: str) -> str:
    """The reason the profile gives for refusing `name`, in the learner's language ("" if it is not refused)."""
    from ..catalog import text

    reason = "clone" if name == "clone" else next((reason for reason, group in DENIED if name in group), "")
    return text("seccomp", reason) if reason else ""


# -- the compiler: an OCI profile -> classic BPF for seccomp(2) ------------------------------------------
# struct seccomp_data { int nr; __u32 arch; __u64 instruction_pointer; __u64 args[6]; } (little-endian)
NR, ARCH_OFF, ARGS = 0, 4, 16
LD_ABS, JEQ, JGE, JSET, RET, AND = 0x20, 0x15, 0x35, 0x45, 0x06, 0x54


class ProfileError(ValueError):
    """A profile this compiler cannot express (an unknown action or comparison)."""


def action_value(action: str, errno_ret: int | None) -> int:
    if action == "SCMP_ACT_ALLOW":
        return RET_ALLOW
    if action == "SCMP_ACT_ERRNO":
        return RET_ERRNO | ((EPERM if errno_ret is None else int(errno_ret)) & 0xFFFF)
    if action in ("SCMP_ACT_KILL", "SCMP_ACT_KILL_THREAD"):
        return RET_KILL_THREAD
    if action == "SCMP_ACT_KILL_PROCESS":
        return RET_KILL_PROCESS
    if action == "SCMP_ACT_LOG":
        return RET_LOG
    raise ProfileError(f"seccomp action {action!r} is not supported")


def describe_action(value: int) -> str:
    """0x50001 -> "fail with EPERM"; 0x7fff0000 -> "allow"."""
    if value & 0xFFFF0000 == RET_ERRNO:
        return f"fail with {errno.errorcode.get(value & 0xFFFF, value & 0xFFFF)}"
    return {RET_ALLOW: "allow", RET_KILL_PROCESS: "kill the process", RET_KILL_THREAD: "kill the thread",
            RET_LOG: "allow and log"}.get(value, hex(value))


def compile(profile: dict, arch: str | None = None) -> list[tuple[int, int, int, int, str]]:  # noqa: A001
    """Instructions (code, jt, jf, k, comment) for `profile` on this machine. Layout:
    check the ABI, load the call's number, then per named call `if nr == N: <its rules>`, then the
    default action. A call's rules are tried in order; the first whose argument tests all pass
    decides; if none does, the default."""
    arch = arch or machine()
    if arch not in ARCH:
        raise ProfileError(f"no seccomp support for {arch} in labkit yet")
    audit_arch = ARCH[arch][0]
    column = 0 if arch == "x86_64" else 1
    default = action_value(profile.get("defaultAction", "SCMP_ACT_ALLOW"), profile.get("defaultErrnoRet"))
    prog = [(LD_ABS, 0, 0, ARCH_OFF, "A = seccomp_data.arch"),
            (JEQ, 1, 0, audit_arch, f"{arch}?"),
            (RET, 0, 0, RET_KILL_PROCESS, "another ABI (32-bit int 0x80, ...): kill the process"),
            (LD_ABS, 0, 0, NR, "A = seccomp_data.nr")]
    if arch == "x86_64":
        prog += [(JGE, 0, 1, X32_SYSCALL_BIT, "an x32 call?"), (RET, 0, 0, RET_KILL_PROCESS, "x32 ABI: kill the process")]
    by_name: dict[str, list[dict]] = {}
    for rule in profile.get("syscalls", []):
        action_value(rule.get("action", ""), rule.get("errnoRet"))  # every rule is checked, named calls known here or not
        for arg in rule.get("args") or []:
            _arg_tests(arg)
        for name in rule.get("names", []):
            by_name.setdefault(name, []).append(rule)
    for name, rules in by_name.items():
        nr = NUMBERS.get(name, (None, None))[column]
        if nr is None:
            continue  # unknown here (or not on this machine): nothing to refuse
        block = _rules_block(rules, default)
        if len(block) > 255:
            raise ProfileError(f"the rules for {name} are too long for one jump")
        prog.append((JEQ, 0, len(block), nr, name))
        prog += block
    prog.append((RET, 0, 0, default, f"every other call: {describe_action(default)}"))
    return prog


def _rules_block(rules: list[dict], default: int) -> list[tuple]:
    """Instructions for one call's rules; they end in a return, so the block never falls through."""
    out: list[tuple] = []
    for rule in rules:
        value = action_value(rule["action"], rule.get("errnoRet"))
        ret = (RET, 0, 0, value, describe_action(value))
        tests = [t for arg in rule.get("args") or [] for t in _arg_tests(arg)]
        if not tests:
            out.append(ret)
            return out  # an unconditional rule decides; later ones could never be reached
        # Each failed test jumps past this rule's return, to the next rule.
        body: list[tuple] = []
        at = []  # where each test's jump sits in body
        for prep, (code, k, negate, comment) in tests:
            body += prep
            at.append(len(body))
            body.append([code, 0, 0, k, comment, negate])
        for pos in at:
            skip = len(body) - pos  # from the next instruction to the one after `ret`
            ins = body[pos]
            ins[1:3] = [skip, 0] if ins[5] else [0, skip]
            body[pos] = tuple(ins[:5])
        out += body + [ret]
    out.append((RET, 0, 0, default, f"no rule matched: {describe_action(default)}"))
    return out


def _arg_tests(arg: dict) -> list[tuple]:
    """(instructions that load A, (jump code, k, negated, comment)) pairs that pass when argument
    `index` meets `op`. Flags are compared in the low 32 bits (every clone flag fits them)."""
    index, value, op = arg["index"], int(arg["value"]), arg["op"]
    if not (isinstance(index, int) and 0 <= index < 6):
        raise ProfileError(f"seccomp argument index {index!r} is not 0..5")
    lo = ARGS + 8 * index
    load_lo = (LD_ABS, 0, 0, lo, f"A = args[{index}] (low 32 bits)")
    load_hi = (LD_ABS, 0, 0, lo + 4, f"A = args[{index}] (high 32 bits)")
    if op == "SCMP_CMP_MASKED_EQ":
        want = int(arg.get("valueTwo", 0))
        if (value | want) >> 32:
            raise ProfileError("SCMP_CMP_MASKED_EQ above 32 bits is not supported")
        if want == value and bin(value).count("1") == 1:  # "is this one flag set?": a single jset
            return [([load_lo], (JSET, value, False, f"flag {value:#x} set?"))]
        return [([load_lo, (AND, 0, 0, value, f"A &= {value:#x}")], (JEQ, want, False, f"== {want:#x}?"))]
    if op == "SCMP_CMP_EQ":
        return [([load_lo], (JEQ, value & 0xFFFFFFFF, False, f"low half == {value & 0xFFFFFFFF:#x}?")),
                ([load_hi], (JEQ, value >> 32, False, f"high half == {value >> 32:#x}?"))]
    if op == "SCMP_CMP_NE" and not value >> 32:
        return [([load_lo], (JEQ, value, True, f"!= {value:#x}?"))]
    raise ProfileError(f"seccomp comparison {op!r} is not supported")


def assemble(prog: list[tuple]) -> bytes:
    """struct sock_filter[] { __u16 code; __u8 jt; __u8 jf; __u32 k; }, as seccomp(2) takes it."""
    return b"".join(struct.pack("=HBBI", code, jt, jf, k & 0xFFFFFFFF) for code, jt, jf, k, _ in prog)


def disassemble(prog: list[tuple]) -> str:
    """The program as text, one instruction a line, with what each one means."""
    names = {LD_ABS: "ld", JEQ: "jeq", JGE: "jge", JSET: "jset", RET: "ret", AND: "and"}
    lines = []
    for i, (code, jt, jf, k, comment) in enumerate(prog):
        op = names.get(code, f"{code:#x}")
        if code == LD_ABS:
            text = f"ld  [{k}]"
        elif code == RET:
            text = f"ret #{k:#x}"
        elif code == AND:
            text = f"and #{k:#x}"
        else:
            text = f"{op} #{k}, {jt}, {jf}" if k < 4096 else f"{op} #{k:#x}, {jt}, {jf}"
        lines.append(f"{i:04d}: {text:<28} ; {comment}")
    return "\n".join(lines)


def program(profile: dict) -> bytes:
    """The filter for `profile`, ready for seccomp(2) (kernel/syscalls.py's seccomp_filter)."""
    return assemble(compile(profile))


def main() -> None:
    """`labkit doctor`'s probe, in a process of its own: load the default filter, try keyctl. Exit
    status 0: refused with EPERM (the filter works); 1: the filter did not load; 2: keyctl got through."""
    import sys

    from ..kernel import syscalls as sc

    try:
        sc.prctl(sc.PR_SET_NO_NEW_PRIVS, 1)
        sc.seccomp_filter(program(default_profile()))
    except (OSError, ProfileError):
        sys.exit(1)
    try:
        sc.keyring_id()
    except OSError as e:
        sys.exit(0 if e.errno == EPERM else 2)
    sys.exit(2)
