"""Property tests: the unit parser and the v1 <-> v2 conversions hold for every input, not a few."""

from __future__ import annotations

from hypothesis import given, strategies as st

from labkit.cgroups.resources import (CPU_PERIOD_US, Resources, IOLimit, shares_to_weight, weight_to_shares)
from labkit.cgroups.units import format_bytes, parse_bytes
from labkit.errors import InvalidArgument

UNITS = {"": 1, "k": 1 << 10, "K": 1 << 10, "KiB": 1 << 10, "m": 1 << 20, "M": 1 << 20, "MB": 1 << 20,
         "MiB": 1 << 20, "g": 1 << 30, "G": 1 << 30, "GiB": 1 << 30}


@given(st.integers(min_value=1, max_value=1 << 20), st.sampled_from(sorted(UNITS)))
def test_whole_sizes_parse_to_number_times_unit(n, unit):
    assert parse_bytes(f"{n}{unit}") == n * UNITS[unit]


@given(st.integers(min_value=1, max_value=1 << 50))
def test_format_then_parse_is_close(n):
    # format_bytes rounds to one decimal: parsing it back lands within 5% (exact below 1 KiB).
    back = parse_bytes(format_bytes(n))
    if n < 1024:
        assert back == n
    else:
        assert abs(back - n) <= n * 0.05


@given(st.text(max_size=12))
def test_parser_never_crashes_and_accepts_only_positive_sizes(text):
    try:
        n = parse_bytes(text)
    except InvalidArgument as e:
        assert e.hint
    else:
        assert isinstance(n, int) and n > 0


@given(st.integers(min_value=1, max_value=10000))
def test_weight_to_shares_and_back_is_exact(w):
    s = weight_to_shares(w)
    assert 2 <= s <= 262144
    assert shares_to_weight(s) == w


@given(st.integers(min_value=2, max_value=262144), st.integers(min_value=2, max_value=262144))
def test_shares_to_weight_keeps_order_and_range(a, b):
    wa, wb = shares_to_weight(a), shares_to_weight(b)
    assert 1 <= wa <= 10000
    if a <= b:
        assert wa <= wb


@given(st.integers(min_value=2, max_value=262144))
def test_shares_to_weight_to_shares_loses_less_than_one_weight_step(s):
    step = (262144 - 2) / (10000 - 1)
    assert abs(weight_to_shares(shares_to_weight(s)) - s) < step + 1


sizes = st.one_of(st.none(), st.integers(min_value=1, max_value=1 << 40))


@given(memory=sizes, swap=sizes, reservation=sizes, quota=st.one_of(st.none(), st.integers(1000, 4 * CPU_PERIOD_US)),
       shares=st.one_of(st.none(), st.integers(2, 262144)), pids=st.one_of(st.none(), st.integers(1, 1 << 22)),
       cpus=st.one_of(st.none(), st.sampled_from(["0", "0-1", "1,3"])),
       io=st.lists(st.builds(IOLimit, st.sampled_from(["8:0", "254:0"]), read_bps=sizes, write_iops=sizes),
                   max_size=1, unique_by=lambda l: l.device))
def test_resources_round_trip_through_oci_json(memory, swap, reservation, quota, shares, pids, cpus, io):
    r = Resources(memory=memory, memory_swap=swap, memory_reservation=reservation, cpu_quota=quota,
                  cpu_shares=shares, pids=pids, cpuset_cpus=cpus,
                  io=tuple(l for l in io if l.read_bps is not None or l.write_iops is not None))
    assert Resources.from_oci(r.to_oci()) == r
