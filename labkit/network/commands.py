"""The `labkit network` verbs, in docker's shape.

    labkit network create [--subnet 10.231.7.0/24] backend     labkit network ls
    labkit network inspect backend                             labkit network rm backend
    labkit network connect backend web                         labkit network disconnect backend web
    labkit network topology
"""

from __future__ import annotations

import json

from . import Network, connect, create, disconnect, inspect, ls, rm, topology
from .networks import MODES


def cmd_create(args) -> int:
    print(create(args.name, subnet=args.subnet).id)
    return 0


def cmd_ls(args) -> int:
    nets = ls()
    names = {n.name for n in nets}
    if args.quiet:
        print("\n".join([n.name for n in nets] + [m for m in MODES if m not in names]))
        return 0
    print(f"{'NETWORK ID':<14} {'NAME':<20} {'DRIVER':<8} {'BRIDGE':<16} {'SUBNET':<18} CONTAINERS")
    for n in nets:
        print(f"{n.id[:12]:<14} {n.name:<20} {'bridge':<8} {n.bridge:<16} {n.subnet:<18} {len(n.containers)}")
    for mode in MODES:  # Docker lists its built-in ones too; the default appears once used
        if mode not in names:
            print(f"{'-':<14} {mode:<20} {mode if mode != 'bridge' else 'bridge':<8} {'-':<16} {'-':<18} "
                  f"{'(made on first use)' if mode == 'bridge' else ''}")
    return 0


def cmd_inspect(args) -> int:
    out = []
    for name in args.names:
        net = inspect(name)
        # What keeps each running container to its own MAC and address, as the kernel has it (ebtables).
        out.append(dict(net.record, PortRules=net.port_rules()))
    print(json.dumps(out, indent=2))
    return 0


def cmd_rm(args) -> int:
    for name in args.names:
        rm(name)
        print(name)
    return 0


def cmd_connect(args) -> int:
    connect(args.network, args.container)
    return 0


def cmd_disconnect(args) -> int:
    disconnect(args.network, args.container)
    return 0


def cmd_topology(args) -> int:
    t = topology()
    print(t)
    from ..catalog import text

    print(f"\n# {text('cli.say', 'by-hand')}")
    print("\n".join(t.commands))
    return 0


__all__ = ["Network"]
