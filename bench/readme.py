"""`python -m bench.readme`: copy the figures of bench/results.md into the README's Performance section.

The README shows the table, the RSS line and the targets of the last `make bench` between its
`<!-- performance-table -->` markers; `tests/ops/test_bench_readme.py` fails while the two disagree.
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results.md"
README = ROOT / "README.md"
START, END = "<!-- performance-table -->", "<!-- /performance-table -->"
FILES_SECTION = "### Files"  # bench/files.py's heading (bench/files.py: SECTION)


def block(results: str) -> str:
    # bench/files.py's section follows the main table and its targets; it is copied whole, after them.
    results, heading, files = results.partition(FILES_SECTION)
    lines = results.splitlines()
    command = next(line for line in lines if line.startswith("Command:"))
    machine = next(line for line in lines if line.startswith("Machine:")).removeprefix("Machine: ")
    table = [line for line in lines if line.startswith("|")]
    rss = next(line for line in lines if line.startswith("RSS per worker"))
    first_target = lines.index(next(line for line in lines if line.startswith("Targets")))
    targets = [line for line in lines[first_target + 1 :] if line.startswith("- ")]
    return "\n".join(
        [
            START,
            f"From `bench/results.md`. {command} {machine}",
            "",
            *table,
            "",
            rss,
            "",
            "Targets of issue 14 in that run:",
            "",
            *targets,
            *([] if not heading else ["", heading + files.rstrip("\n")]),
            END,
        ]
    )


def current(readme: str) -> str:
    return readme[readme.index(START) : readme.index(END) + len(END)]


def main() -> None:
    readme = README.read_text(encoding="utf-8")
    README.write_text(readme.replace(current(readme), block(RESULTS.read_text(encoding="utf-8"))), "utf-8")
    print("README.md: Performance table copied from bench/results.md")


if __name__ == "__main__":
    main()
