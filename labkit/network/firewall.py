"""labkit's firewall rules, found and removed by name.

labkit keeps every iptables rule of its own in chains named after its instance
("labkit-FORWARD", "labkit.3f9c0a1b-NAT", ...) or marked with a comment
(`-m comment --comment labkit`), and every nftables rule in a table named after it
("table inet labkit"). So rules can be found in `iptables-save` / `nft list tables`
even when labkit's state files are lost.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess

from ..errors import FeatureMissing

TABLES = ("filter", "nat", "mangle", "raw")


def _run(cmd: list[str]) -> str:
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=20).stdout
    except (OSError, subprocess.TimeoutExpired):
        return ""


def iptables_rules(match) -> list[tuple[str, str, list[str]]]:
    """(table, chain, rule args) of each iptables rule for which match(text of the rule line) is true,
    and ("table", chain, []) for each chain whose name matches."""
    if not shutil.which("iptables-save"):
        return []
    found = []
    for table in TABLES:
        for line in _run(["iptables-save", "-t", table]).splitlines():
            if line.startswith(":"):
                chain = line[1:].split()[0]
                if match(chain):
                    found.append((table, chain, []))
            elif line.startswith("-A ") and match(line):
                args = shlex.split(line)
                found.append((table, args[1], args[2:]))
    return found


def remove_iptables(match) -> list[str]:
    """Delete matching rules first (a chain in use cannot be deleted), then flush and delete matching chains."""
    removed = []
    found = iptables_rules(match)
    for table, chain, args in found:
        if args:
            _run(["iptables", "-t", table, "-D", chain, *args])
            removed.append(f"iptables -t {table} -A {chain} {shlex.join(args)}")
    for table, chain, args in found:
        if not args:
            _run(["iptables", "-t", table, "-F", chain])
            _run(["iptables", "-t", table, "-X", chain])
            removed.append(f"iptables -t {table} chain {chain}")
    return removed


def ebtables_rules(match) -> list[tuple[str, list[str]]]:
    """(chain, rule args) of each ebtables rule (filter table) whose line matches, and (chain, []) for
    each chain whose name does. ebtables-save prints lines like "-A labkit-PORTS -i lk-3f9a0c1b2d0 -j DROP"."""
    if not shutil.which("ebtables-save"):
        return []
    found = []
    for line in _run(["ebtables-save", "-t", "filter"]).splitlines():
        if line.startswith(":"):
            chain = line[1:].split()[0]
            if match(chain):
                found.append((chain, []))
        elif line.startswith("-A ") and match(line):
            args = shlex.split(line)
            found.append((args[1], args[2:]))
    return found


def remove_ebtables(match) -> list[str]:
    removed = []
    found = ebtables_rules(match)
    for chain, args in found:
        if args:
            _run(["ebtables", "-t", "filter", "-D", chain, *args])
            removed.append(f"ebtables -A {chain} {shlex.join(args)}")
    for chain, args in found:
        if not args:
            _run(["ebtables", "-t", "filter", "-F", chain])
            _run(["ebtables", "-t", "filter", "-X", chain])
            removed.append(f"ebtables chain {chain}")
    return removed


def nft_tables(match) -> list[tuple[str, str]]:
    """(family, name) of each nftables table whose name matches, from lines like "table inet labkit"."""
    if not shutil.which("nft"):
        return []
    out = []
    for line in _run(["nft", "list", "tables"]).splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0] == "table" and match(parts[2]):
            out.append((parts[1], parts[2]))
    return out


def remove_nft(match) -> list[str]:
    removed = []
    for family, name in nft_tables(match):
        _run(["nft", "delete", "table", family, name])
        removed.append(f"nft table {family} {name}")
    return removed


# -- making the lab's rules (network/rules.py says what they are) ------------------------------------------
class IptablesFailed(FeatureMissing):
    """iptables is missing, or refused the lab's rules."""



def apply(tag: str, networks: list[dict], ports: list[dict]) -> None:
    """Write the lab's whole rule set (its chains emptied and refilled in one iptables-restore
    transaction), and make sure the jumps into its chains are there. Raises IptablesFailed."""
    from . import rules

    if not shutil.which("iptables-restore"):
        raise IptablesFailed("error.network.iptables-installed-labkit-s")
    # Chains first (restore refers to them only by declaring them), then their rules, then the jumps.
    r = subprocess.run(["iptables-restore", "--noflush", "-w", "5"], input=rules.ruleset(tag, networks, ports),
                       capture_output=True, text=True, timeout=30)
    if r.returncode != 0:
        raise IptablesFailed("error.network.iptables-restore-refused-labkit", strip_300=r.stderr.strip()[:300])
    for table, rule in rules.jumps(tag):
        check = subprocess.run(["iptables", "-w", "5", "-t", table, "-C", *rule], capture_output=True, timeout=30)
        if check.returncode != 0:
            add = subprocess.run(["iptables", "-w", "5", "-t", table, "-I", rule[0], "1", *rule[1:]],
                                 capture_output=True, text=True, timeout=30)
            if add.returncode != 0:
                raise IptablesFailed("error.network.iptables-t-i", table=table, join=' '.join(rule), strip_300=add.stderr.strip()[:300])
