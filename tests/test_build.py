"""build: a Dockerfile's steps become layers and config changes; the cache reuses what did not
change; a failing step stops the build with nothing tagged."""

from __future__ import annotations

import pytest

import labkit as lk
from labkit.images.build import BuildError, parse, prune_cache
from labkit.images.store import ImageStore
from labkit.paths import instance


DOCKERFILE = """\
# a small image
FROM busybox
RUN echo built > /greeting && rm /bin/vi
COPY hello.txt /srv/
ENV GREETING="hi there" \\
    OTHER=1
WORKDIR /srv
CMD ["cat", "hello.txt"]
"""


@pytest.fixture
def context(tmp_path, busybox):
    (tmp_path / "Dockerfile").write_text(DOCKERFILE)
    (tmp_path / "hello.txt").write_text("hello from a file\n")
    yield tmp_path
    store = ImageStore(instance())
    for name in store.names():
        if name.startswith("localhost/built"):
            store.untag(name)
    prune_cache(store)
    store.gc()


def test_build_makes_the_layers_and_the_config(context):
    lines = []
    name = lk.build(context, tag="localhost/built:1", out=lines.append)
    assert lines[0] == "Step 1/6 : FROM busybox" and lines[-1] == "Successfully tagged localhost/built:1"
    store = ImageStore(instance())
    img = store.get(name)
    busybox = store.get("busybox")
    assert len(img.layers) == len(busybox.layers) + 2  # RUN and COPY; ENV, WORKDIR, CMD are config only
    assert img.config["config"]["WorkingDir"] == "/srv" and "GREETING=hi there" in img.config["config"]["Env"]
    assert [h.get("empty_layer", False) for h in store.history(name)[:5]] == [True, True, True, False, False]
    assert lk.run(name, rm=True, stream=False).stdout == "hello from a file\n"
    r = lk.run(name, ["sh", "-c", "cat /greeting; echo $GREETING; pwd; test -e /bin/vi || echo no vi"], rm=True,
               stream=False)
    assert r.stdout == "built\nhi there\n/srv\nno vi\n"


def test_the_cache_reuses_unchanged_steps_and_redoes_from_a_changed_file(context):
    first = []
    lk.build(context, tag="localhost/built:2", out=first.append)
    again = []
    lk.build(context, tag="localhost/built:2", out=again.append)
    assert sum("Using cache" in line for line in again) == 5  # every step after FROM
    assert not any("Running in" in line for line in again)
    (context / "hello.txt").write_text("changed\n")
    third = []
    lk.build(context, tag="localhost/built:2", out=third.append)
    steps = [line for line in third if line.startswith("Step") or "Using cache" in line]
    assert steps[2] == " ---> Using cache" and steps[3].startswith("Step 3/6 : COPY")  # RUN cached, COPY not
    assert sum("Using cache" in line for line in third) == 1
    assert lk.run("localhost/built:2", rm=True, stream=False).stdout == "changed\n"


def test_a_failing_step_stops_the_build_and_tags_nothing(context):
    (context / "Dockerfile").write_text("FROM busybox\nRUN echo about to fail; exit 3\nCMD [\"true\"]\n")
    lines = []
    with pytest.raises(BuildError) as e:
        lk.build(context, tag="localhost/built:bad", out=lines.append)
    assert "non-zero code: 3" in str(e.value) and e.value.hint
    assert "about to fail" in lines
    assert "localhost/built:bad" not in ImageStore(instance()).names()
    assert lk.ps(all=True) == []  # the step's container is gone too


@pytest.mark.parametrize("text,words", [
    ("RUN true\n", "starts with FROM"),
    ("FROM busybox\nFROBNICATE x\n", "line 2: unknown instruction"),
])
def test_bad_dockerfiles_are_refused_before_anything(text, words):
    with pytest.raises(lk.InvalidArgument) as e:
        parse(text)
    assert words in str(e.value)


def test_copy_from_outside_the_context_is_refused(context):
    (context / "Dockerfile").write_text("FROM busybox\nCOPY ../../etc/passwd /x\n")
    with pytest.raises(lk.InvalidArgument, match="outside the build context"):
        lk.build(context, tag="localhost/built:x", out=lambda line: None)


def test_from_busybox_in_a_fresh_lab_makes_the_offline_default_image(tmp_path, monkeypatch):
    # a learner who opens the capstone first: no busybox yet, and a pull of docker.io's would be refused
    from labkit.images.build import build

    monkeypatch.setenv("LABKIT_OFFLINE", "1")
    store = ImageStore(instance(tmp_path / "fresh-lab"))
    (tmp_path / "ctx").mkdir()
    (tmp_path / "ctx" / "Dockerfile").write_text("FROM busybox\nENV A=1\n")
    name = build(tmp_path / "ctx", store, run=None, tag="localhost/fresh:1", out=lambda line: None)  # no RUN: no runner
    assert store.get(name).layers == store.get("busybox").layers
    assert store.get("busybox").config["config"]["Labels"]["org.labkit.source"]  # the lab's own, made offline


def test_copy_through_a_loop_of_links_is_refused_with_a_hint(context):
    (context / "a").symlink_to("b")
    (context / "b").symlink_to("a")
    store = ImageStore(instance())
    for line in ("COPY a /x", "COPY a/inner /x"):
        (context / "Dockerfile").write_text(f"FROM busybox\n{line}\n")
        with pytest.raises(lk.InvalidArgument, match="loop") as e:
            lk.build(context, tag="localhost/built:loop", out=lambda line: None)
        assert e.value.hint
    assert "localhost/built:loop" not in store.names()


def test_an_images_user_is_who_its_steps_and_containers_run_as_unless_run_says_otherwise(context):
    """USER is docker's: the RUN steps after it and the containers of the image run as that user
    (the kernel's credentials, /proc/self/status), unless `-u` names another; none means root."""
    (context / "Dockerfile").write_text("FROM busybox\nUSER nobody\nRUN id -u > /tmp/built-as\n"
                                        'CMD ["sh", "-c", "cat /tmp/built-as; grep ^Uid: /proc/self/status"]\n')
    name = lk.build(context, tag="localhost/built:user", out=lambda line: None)
    assert lk.run(name, rm=True, stream=False).stdout.split() == ["65534", "Uid:"] + ["65534"] * 4
    assert lk.run(name, ["id", "-u"], user="0", rm=True, stream=False).stdout == "0\n"
    assert lk.run("busybox", ["id", "-u"], rm=True, stream=False).stdout == "0\n"
