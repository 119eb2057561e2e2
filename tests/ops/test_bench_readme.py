"""The README's Performance table is the one of bench/results.md (`python -m bench.readme` copies it)."""

from __future__ import annotations

from bench.readme import README, RESULTS, block, current


def test_the_readme_shows_the_last_benchmark() -> None:
    expected = block(RESULTS.read_text(encoding="utf-8"))
    assert current(README.read_text(encoding="utf-8")) == expected, "run `python -m bench.readme`"


RESULTS_WITH_FILES = """# Benchmark results

Command: `make bench` (`python -m bench.run`); now; 1 s in all.

Machine: x86_64, 2 cores.

| request | req/s |
|---|---|
| `GET /api/auth/me` | 1 |

RSS per worker after the run: API 1 MiB.

Targets (issue 14), as ratios in this run:

- met: one

### Files (`bench/files.py`, 1 s)

| transfer | API MiB/s |
|---|---|
| local upload | 2 |

Files targets in this run:

- **not met**: two
"""


def test_the_files_section_is_copied_after_the_targets() -> None:
    """bench/files.py's table and targets stay out of the main table and targets, and follow them whole."""
    copied = block(RESULTS_WITH_FILES).splitlines()
    targets = copied.index("Targets of issue 14 in that run:")
    files = copied.index("### Files (`bench/files.py`, 1 s)")
    assert [line for line in copied[:targets] if line.startswith("|")] == [
        "| request | req/s |",
        "|---|---|",
        "| `GET /api/auth/me` | 1 |",
    ]
    assert copied[targets + 1 : files] == ["", "- met: one", ""]
    section = "### Files" + RESULTS_WITH_FILES.split("### Files", 1)[1]
    assert copied[files:-1] == section.rstrip("\n").splitlines()
    assert copied[-1] == "<!-- /performance-table -->"
