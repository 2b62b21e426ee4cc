"""The Docker Engine API's `filters` query parameter: read, checked, and matched against a row.

    docker ps -a --filter name=web --filter status=exited
    GET /containers/json?all=1&filters={"name":{"web":true},"status":{"exited":true}}

Two shapes arrive: today's, {"name": {"web": true}}, and the one clients before API 1.22 sent,
{"name": ["web"]}; both mean "name is web". Values of one key are alternatives (any may match);
different keys must all match. A filter that is not JSON of either shape, a key the endpoint does
not know, or a value it cannot take is a 400 naming it, as dockerd answers ("invalid filter
'colour'"): a filter is never dropped, since a list that ignored it would look like an answer.
"""

from __future__ import annotations

import fnmatch
import json
import re

from ..errors import InvalidArgument

EXAMPLE = '{"name": {"web": true}}'

#: `docker ps --filter status=...`: Docker's container states
STATUSES = ("created", "restarting", "running", "removing", "paused", "exited", "dead")


def parse(text: str | None, known: tuple[str, ...]) -> dict[str, list[str]]:
    """filters=... as {key: [values]}: '{"status": {"exited": true}}' -> {"status": ["exited"]}."""
    if text is None or text.strip() == "":
        return {}
    try:
        raw = json.loads(text)
    except ValueError:
        raise InvalidArgument("error.api.filters-json", text_80=text[:80], example=EXAMPLE) from None
    if not isinstance(raw, dict):
        raise InvalidArgument("error.api.filters-object-keys-values", text_80=text[:80], example=EXAMPLE)
    out = {}
    for key, values in raw.items():
        if key not in known:
            raise InvalidArgument("error.api.unknown-filter", v_key=key, known=", ".join(known))
        if isinstance(values, dict) and all(v is True for v in values.values()):
            chosen = list(values)
        elif isinstance(values, list) and all(isinstance(v, str) for v in values):
            chosen = list(values)
        else:
            raise InvalidArgument("error.api.filter-has-values", v_key=key, values=values)
        out[key] = chosen
    return out


def check_choice(filters: dict, key: str, allowed: tuple[str, ...]) -> None:
    """A key whose values come from a fixed list: status=exited, dangling=true."""
    for v in filters.get(key, ()):
        if v not in allowed:
            raise InvalidArgument("error.api.invalid-filter-choice", v_key=key, v=v, allowed=", ".join(allowed))


def check_int(filters: dict, key: str) -> None:
    for v in filters.get(key, ()):
        if not re.fullmatch(r"-?\d+", v):
            raise InvalidArgument("error.api.invalid-filter", v_key=key, v=v)


def pattern(value: str, key: str = "name") -> re.Pattern:
    """Docker matches name filters as regular expressions (name=^web$); a bad one is a 400."""
    try:
        return re.compile(value)
    except re.error as e:
        raise InvalidArgument("error.api.invalid-filter-2", v_key=key, value=value, e=e) from None


def labels_match(wanted: list[str], labels: dict) -> bool:
    """label=KEY or label=KEY=VALUE, each of them: Docker ANDs label filters."""
    for w in wanted:
        k, eq, v = w.partition("=")
        if k not in labels or (eq and labels[k] != v):
            return False
    return True


def reference_match(wanted: list[str], names: list[str]) -> bool:
    """reference=busybox, reference=busybox:*, reference=localhost:5000/*: a glob against each name,
    with and without its tag (busybox matches busybox:latest)."""
    for w in wanted:
        for n in names:
            repo = n.rsplit(":", 1)[0] if ":" in n.rsplit("/", 1)[-1] else n
            if fnmatch.fnmatchcase(n, w) or fnmatch.fnmatchcase(repo, w):
                return True
    return False
