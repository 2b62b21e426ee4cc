"""Image references: Docker's grammar and defaults, and refusals that say where and why."""

from __future__ import annotations

import pytest

from labkit.errors import InvalidArgument
from labkit.images.reference import InvalidReference, familiar, normalize, parse

H = "a" * 64

VALID = [
    # (reference, registry, repository, tag, digest)
    ("busybox", "docker.io", "library/busybox", "latest", None),
    ("busybox:1.36", "docker.io", "library/busybox", "1.36", None),
    ("alice/tools:1.0", "docker.io", "alice/tools", "1.0", None),
    ("docker.io/busybox", "docker.io", "library/busybox", "latest", None),
    ("index.docker.io/library/busybox", "docker.io", "library/busybox", "latest", None),
    ("localhost/app", "localhost", "app", "latest", None),
    ("localhost:5000/app:v2", "localhost:5000", "app", "v2", None),
    ("127.0.0.1:5000/team/app", "127.0.0.1:5000", "team/app", "latest", None),
    ("[::1]:5000/app", "[::1]:5000", "app", "latest", None),
    ("ghcr.io/org/team/app", "ghcr.io", "org/team/app", "latest", None),
    ("Registry/app", "Registry", "app", "latest", None),  # a capital letter: a registry, as docker decides
    (f"busybox@sha256:{H}", "docker.io", "library/busybox", None, f"sha256:{H}"),
    (f"quay.io/a/b:tag@sha256:{H}", "quay.io", "a/b", "tag", f"sha256:{H}"),
    ("a__b/c-d--e.f_g", "docker.io", "a__b/c-d--e.f_g", "latest", None),
    ("x:" + "t" * 128, "docker.io", "library/x", "t" * 128, None),
]


@pytest.mark.parametrize("ref,registry,repository,tag,digest", VALID)
def test_valid_references_and_their_parts(ref, registry, repository, tag, digest):
    r = parse(ref)
    assert (r.registry, r.repository, r.tag, r.digest) == (registry, repository, tag, digest)
    assert parse(str(r)) == r  # the full form parses to itself


INVALID = [
    # (reference, position of the fault, words of the reason)
    ("", 0, "empty"),
    ("Busybox", 0, "lowercase"),
    ("alice/Tools", 6, "lowercase"),
    ("busybox:", 8, "tag"),
    ("busybox:-x", 8, "tag"),
    ("busybox:" + "t" * 129, 8, "tag"),
    ("bus box", 3, "spaces"),
    ("busybox@sha256:abc", 18, "64 hex"),
    (f"busybox@sha256:{'A' * 64}", 15, "lowercase"),
    (f"busybox@md5:{H}", 8, "algorithm"),
    ("busybox@", 8, "algorithm:hex"),
    ("a//b", 2, "empty"),
    ("-a", 0, "parts"),
    ("a-", 0, "parts"),
    ("localhost:99999/app", 10, "port"),
    ("bad_host.com/app", 0, "host"),
    ("a/b$c", 3, "'$'"),
    ("x" * 256, 255, "255"),
]


@pytest.mark.parametrize("ref,position,words", INVALID)
def test_invalid_references_say_where_and_why(ref, position, words):
    with pytest.raises(InvalidReference) as e:
        parse(ref)
    assert e.value.position == position, str(e.value)
    assert words in e.value.reason
    assert e.value.hint and isinstance(e.value, InvalidArgument)  # labkit's typed error, with a hint


def test_normalize_and_familiar_round_trip():
    assert normalize("busybox") == "docker.io/library/busybox:latest"
    assert familiar(normalize("busybox")) == "busybox:latest"
    assert familiar(normalize("alice/tools:1.0")) == "alice/tools:1.0"
    assert familiar(normalize("localhost:5000/app")) == "localhost:5000/app:latest"


def test_a_reference_shows_its_parts_in_a_notebook():
    html = parse("localhost:5000/team/app:v1")._repr_html_()
    for part in ("localhost:5000", "team", "team/app", "v1"):
        assert f"<code>{part}</code>" in html
    assert "^" in str(pytest.raises(InvalidReference, parse, "Busybox").value)  # a caret under the fault
