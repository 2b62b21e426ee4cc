"""The room's pieces that need no LXD: its settings (checked whole before anything is made), the
roster's logins, the passwords and their hashes, the cards. (LXD itself: test_room_lxd.py.)"""

from __future__ import annotations

import json
import os
import stat
import xml.etree.ElementTree as ET

import pytest

from labkit.errors import InvalidArgument
from labkit.room import roster, settings


def test_the_defaults_are_a_room_on_loopback_with_each_learners_limits():
    s = settings.load()
    assert (s.address, s.port, s.https, s.url) == ("127.0.0.1", 8000, False, "http://127.0.0.1:8000/")
    assert s.limits.lxd_config() == {"limits.cpu": "1", "limits.memory": f"{2 << 30}B", "limits.processes": "500"}
    assert s.limits.lxd_root_disk("pool")["size"] == f"{5 << 30}B"


def test_a_settings_file_is_read_whole_its_paths_from_its_folder_and_the_command_line_wins(tmp_path):
    (tmp_path / "room.crt").write_text("x")
    (tmp_path / "names.txt").write_text("Ada\n")
    (tmp_path / "room.key").write_text("x")
    f = tmp_path / "room.toml"
    f.write_text('roster = "names.txt"\naddress = "10.1.2.3"\nport = 8443\ncertificate = "room.crt"\nkey = "room.key"\n'
                 'lang = "zh"\n[limits]\ncpu = 2\nmemory = "1.5G"\nprocesses = 300\ndisk = "3GiB"\n[stuck]\nfailures = 5\n')
    s = settings.load(f, port=9443)
    assert s.roster == tmp_path / "names.txt" and s.certificate == tmp_path / "room.crt" and s.https
    assert (s.port, s.lang, s.url) == (9443, "zh", "https://10.1.2.3:9443/")
    assert s.limits.lxd_config() == {"limits.cpu": "2", "limits.memory": f"{3 << 29}B", "limits.processes": "300"}
    assert (s.stuck.failures, s.stuck.idle_minutes) == (5, 10)


@pytest.mark.parametrize("text, key", [
    ("learners = 3\nroster = 'r.txt'", "error.room.learners-and-roster"),
    ("learner = 3", "error.room.settings-unknown"),  # a typo: refused, not ignored
    ("[limits]\nmemmory = '1G'", "error.room.settings-unknown"),
    ("limits = 3", "error.room.settings-not-table"),
    ("address = '0.0.0.0'", "error.room.open-needs-https"),  # passwords in the clear on the room's network
    ("address = 'room.lan'", "error.room.bad-address"),
    ("port = 0", "error.room.bad-port"),
    ("port = true", "error.room.bad-port"),
    ("certificate = 'c.pem'", "error.room.certificate-and-key"),
    ("learners = 1000", "error.room.too-many-learners"),
    ("learners = 0", "error.cgroups.limit-must-more-than-2"),
    ("[limits]\nmemory = 'lots'", "error.cgroups.limit-size-2"),
    ("lang = 'fr'", "error.language.unknown"),
    ("port = ", "error.room.settings-not-toml"),
])
def test_bad_settings_are_refused_with_what_to_write_instead(tmp_path, text, key):
    f = tmp_path / "room.toml"
    f.write_text(text + "\n")
    with pytest.raises(InvalidArgument) as e:
        settings.load(f)
    assert e.value.args[0] == key and e.value.hint, e.value


def test_a_rosters_lines_become_logins_and_a_line_that_cannot_is_refused_with_its_number():
    assert roster.logins_from_roster("# a workshop\nAda\n\nLin Wei  # the second\n  Grace_Hopper \n") == ["ada", "lin-wei", "grace-hopper"]
    for text, key in (("Ada\nlin wei\nLin_Wei\n", "error.room.roster-twice"), ("Ada\n---\n", "error.room.roster-bad-line"),
                      ("# nobody\n", "error.room.roster-empty"), ("3pigs\n", "error.room.roster-bad-line")):
        with pytest.raises(InvalidArgument) as e:
            roster.logins_from_roster(text)
        assert e.value.args[0] == key, text
    assert roster.logins_counted(3) == ["learner01", "learner02", "learner03"]
    assert roster.logins_counted(120)[-1] == "learner120"
    long = roster.login_of("x" * 100)
    assert len(roster.PREFIX + long) <= 63  # an LXD name


def test_passwords_are_unambiguous_different_and_only_their_hash_checks_them():
    pws = {roster.password() for _ in range(200)}
    assert len(pws) == 200
    for pw in list(pws)[:5]:
        assert len(pw) == 14 and set(pw.replace("-", "")) <= set(roster.ALPHABET)
    pw = roster.password()
    h = roster.hash_password(pw)
    assert pw not in h and roster.check_password(pw, h)
    assert not roster.check_password(pw[:-1] + ("a" if pw[-1] != "a" else "b"), h)
    assert not roster.check_password(pw, "garbage") and not roster.check_password(pw, "md5$1$00$00")
    assert roster.hash_password(pw) != h  # salted


def test_a_room_started_again_keeps_its_learners_passwords_and_the_file_is_roots_alone(tmp_path):
    path = tmp_path / "room" / "learners.json"
    first = roster.make(["ada", "lin-wei"])
    roster.save(first, path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    again = roster.make(["ada", "lin-wei", "grace"], roster.load(path))
    assert again[:2] == first and again[2].login == "grace" and again[2].password not in (first[0].password, first[1].password)
    assert json.loads(path.read_text())["ada"]["container"] == "labkit-ada"
    path.write_text("{not json")
    with pytest.raises(InvalidArgument):
        roster.load(path)


@pytest.mark.parametrize("lang, word", [("en", "password"), ("zh", "密码")])
def test_the_cards_show_each_learners_address_login_and_password_in_the_rooms_language(lang, word):
    learners = roster.make(["ada", "lin-wei"])
    page = roster.cards(learners, "https://10.1.2.3:8443/", lang)
    ET.fromstring(page.replace("<!doctype html>", "").replace("<meta charset='utf-8'>", ""))  # well formed
    assert page.count("class='card'") == 2 and word in page and "https://10.1.2.3:8443/" in page
    for x in learners:
        assert x.login in page and x.password in page and x.hash not in page
    assert "<script" not in roster.cards([roster.Learner("<script>", "p", "h")], "u", lang)  # escaped


def test_a_learner_looks_stuck_after_n_failed_tries_or_m_idle_minutes_and_not_before_they_begin():
    from labkit.room.settings import Stuck
    from labkit.room.watch import View, by_notebook, stuck_reason

    rule, now = Stuck(failures=3, idle_minutes=10), 10_000.0
    assert stuck_reason({}, rule, now) == ()  # not started: not stuck
    fresh = {"03.memory-limits": {"status": "passed", "time": now - 60, "tries": 1}}
    assert stuck_reason(fresh, rule, now) == ()
    assert stuck_reason(fresh, rule, now + 11 * 60) == ("idle", 12)
    trying = {**fresh, "04.level-4": {"status": "not yet", "time": now - 5, "tries": 3}}
    assert stuck_reason(trying, rule, now) == ("tries", "04.level-4", 3)
    trying["04.level-4"]["status"] = "passed"  # passed at the third try: fine
    assert stuck_reason(trying, rule, now) == ()
    assert stuck_reason({"predictions": {"03.oom-threshold": {"guess": 40}}}, rule, now) == ()  # guesses are not tries
    counts = by_notebook(trying)
    assert counts["03-cgroups"][0] == 1 and counts["04-runtimes"] == (1, 4) and counts["00-welcome"][0] == 0
    v = View("ada", "labkit-ada", "Running", stuck=("tries", "04.level-4", 5))
    assert v.stuck_said() == "04.level-4 tried 5 times, not passed yet"
    from labkit import catalog

    with catalog.speaking("zh"):
        assert v.stuck_said() == "04.level-4 试了 5 次，还没通过"


def test_a_roster_that_is_not_there_is_refused_before_anything(tmp_path):
    f = tmp_path / "room.toml"
    f.write_text('roster = "nobody.txt"\n')
    with pytest.raises(InvalidArgument) as e:
        settings.load(f)
    assert e.value.args[0] == "error.room.no-such-file" and "nobody.txt" in str(e.value)
