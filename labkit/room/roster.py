"""The room's learners: who they are, the password each gets, the LXD container each works in, and
the cards the instructor prints.

    roster.txt                  learners.json (root's alone, 0600: the cards are printed again from it)
    # workshop, 8 December      {"ada": {"password": "k7mq-3tpa-x9de", "hash": "pbkdf2_sha256$...",
    Ada                                  "container": "labkit-ada"}, ...}
    Lin Wei        -> lin-wei
    lin_wei        -> refused: the same login as the line above

A learner's login is the roster line made lower case, runs of other characters turned into one
hyphen ("Lin Wei" -> "lin-wei"); a line with no letter or digit is refused, as are two lines that
give the same login. The container is "labkit-" and the login: every object of the room carries
labkit in its name. The password is 12 characters from an alphabet without look-alikes (no 0/O,
1/l/I), about 60 bits; the hub keeps only its PBKDF2 hash.
"""

from __future__ import annotations

import hashlib
import hmac
import html
import json
import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

from ..errors import InvalidArgument

ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0, 1, i, l, o: read aloud or from paper without a doubt
#: the container's name: "labkit-" and the login, an LXD name (at most 63 characters)
PREFIX = "labkit-"
LONGEST = 63 - len(PREFIX)
ROUNDS = 200_000  # PBKDF2-SHA256: ~60 ms at each login here, and each guess costs the same


@dataclass(frozen=True)
class Learner:
    login: str
    password: str  # "" when only the hash is known
    hash: str

    @property
    def container(self) -> str:
        return PREFIX + self.login

    def __repr__(self) -> str:
        return f"<learner {self.login} in {self.container}>"


def login_of(line: str) -> str:
    """"Lin Wei" -> "lin-wei"; "" when nothing of it can name a login."""
    return re.sub(r"[^a-z0-9]+", "-", line.strip().lower()).strip("-")[:LONGEST].strip("-")


def logins_from_roster(text: str) -> list[str]:
    """The logins of a roster's lines, in order; refuses a line that gives no login or one given twice."""
    out: list[str] = []
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        login = login_of(line)
        if not login or not login[0].isalpha():
            raise InvalidArgument("error.room.roster-bad-line", n=n, line=raw.strip())
        if login in out:
            raise InvalidArgument("error.room.roster-twice", n=n, line=raw.strip(), login=login)
        out.append(login)
    if not out:
        raise InvalidArgument("error.room.roster-empty")
    return out


def logins_counted(n: int) -> list[str]:
    """learner01 ... learnerNN (two digits at least: they sort as they are numbered)."""
    width = max(2, len(str(n)))
    return [f"learner{i:0{width}d}" for i in range(1, n + 1)]


def password() -> str:
    """"k7mq-3tpa-x9de": three groups of four, easy to type from a card."""
    raw = "".join(secrets.choice(ALPHABET) for _ in range(12))
    return "-".join(raw[i:i + 4] for i in range(0, 12, 4))


def hash_password(pw: str, salt: bytes | None = None) -> str:
    salt = salt or os.urandom(16)
    digest = hashlib.pbkdf2_hmac("sha256", pw.encode(), salt, ROUNDS)
    return f"pbkdf2_sha256${ROUNDS}${salt.hex()}${digest.hex()}"


def check_password(pw: str, stored: str) -> bool:
    try:
        kind, rounds, salt, digest = stored.split("$")
        if kind != "pbkdf2_sha256":
            return False
        got = hashlib.pbkdf2_hmac("sha256", pw.encode(), bytes.fromhex(salt), int(rounds))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got.hex(), digest)


def make(logins: list[str], known: dict[str, Learner] | None = None) -> list[Learner]:
    """The learners of these logins: one already known keeps their password (a room started again
    after a stop: the cards on the tables stay right), a new one gets a new password."""
    known = known or {}
    out = []
    for login in logins:
        if login in known:
            out.append(known[login])
        else:
            pw = password()
            out.append(Learner(login, pw, hash_password(pw)))
    return out


def save(learners: list[Learner], path: Path) -> None:
    """Written whole, then renamed over the old: a crash leaves the old file or the new, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".new")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump({x.login: {"password": x.password, "hash": x.hash, "container": x.container} for x in learners}, f, indent=1)
    os.replace(tmp, path)


def load(path: Path) -> dict[str, Learner]:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as e:
        raise InvalidArgument("error.room.learners-file-bad", path=path, said=str(e)) from None
    return {k: Learner(k, v.get("password", ""), v["hash"]) for k, v in data.items()}


def cards(learners: list[Learner], url: str, lang: str = "en") -> str:
    """One printable page of cards, eight to a sheet: the hub's address, the login, the password."""
    from ..catalog import speaking, text

    e = html.escape
    with speaking(lang):
        t = {k: text("room.cards", k, k) for k in ("title", "address", "login", "password", "first", "keep")}
    body = "".join(
        f"<section class='card'><h2>{e(t['title'])}</h2>"
        f"<p><span>{e(t['address'])}</span><code>{e(url)}</code></p>"
        f"<p><span>{e(t['login'])}</span><code>{e(x.login)}</code></p>"
        f"<p><span>{e(t['password'])}</span><code>{e(x.password)}</code></p>"
        f"<p class='small'>{e(t['first'])}</p><p class='small'>{e(t['keep'])}</p></section>" for x in learners)
    style = ("body{font-family:'WenQuanYi Micro Hei',sans-serif;margin:0}"
             ".sheet{display:grid;grid-template-columns:1fr 1fr;gap:6mm;padding:8mm}"
             ".card{border:1px dashed #888;padding:5mm;break-inside:avoid;page-break-inside:avoid}"
             ".card h2{margin:0 0 3mm;font-size:14pt}.card p{margin:1.5mm 0}.card span{display:inline-block;width:28mm;color:#555}"
             ".card code{font-size:13pt}.small{font-size:9pt;color:#555}"
             "@media print{.sheet{padding:0}}")
    return (f"<!doctype html><html lang='{'zh-CN' if lang == 'zh' else 'en'}'><meta charset='utf-8'>"
            f"<title>{e(t['title'])}</title><style>{style}</style><div class='sheet'>{body}</div></html>")
