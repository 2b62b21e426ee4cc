"""Human units in, with clear errors."""

from __future__ import annotations

import pytest

from labkit.cgroups.units import format_bytes, parse_bytes, parse_count
from labkit.errors import InvalidArgument


@pytest.mark.parametrize("text,n", [("64M", 64 << 20), ("64m", 64 << 20), ("1.5G", 3 << 29), ("512KiB", 512 << 10),
                                    ("100", 100), (4096, 4096), ("2 GB", 2 << 30), ("1t", 1 << 40)])
def test_sizes(text, n):
    assert parse_bytes(text) == n


@pytest.mark.parametrize("bad", ["0", "-1M", "12X", "M", "", "1..5G", 0, -3, True])
def test_bad_sizes_are_refused_with_a_hint(bad):
    with pytest.raises(InvalidArgument) as e:
        parse_bytes(bad)
    assert e.value.hint


@pytest.mark.parametrize("bad", ["0", "-2", "two", 1.5, None, ""])
def test_bad_counts_are_refused(bad):
    with pytest.raises(InvalidArgument):
        parse_count(bad)


def test_format_bytes():
    assert (format_bytes(1536), format_bytes(64 << 20), format_bytes(10)) == ("1.5KiB", "64MiB", "10B")
