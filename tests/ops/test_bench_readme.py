"""The README's Performance table is the one of bench/results.md (`python -m bench.readme` copies it)."""

from __future__ import annotations

from bench.readme import README, RESULTS, block, current


def test_the_readme_shows_the_last_benchmark() -> None:
    expected = block(RESULTS.read_text(encoding="utf-8"))
    assert current(README.read_text(encoding="utf-8")) == expected, "run `python -m bench.readme`"
