"""The golden list of public names: every rename, addition or removal is deliberate.

After an intended change, regenerate the list with:

    .venv/bin/python tests/test_public_names.py --write
"""

import sys
from pathlib import Path

from rlcore import registry

GOLDEN = Path(__file__).parent / "golden" / "public_names.txt"


def current_lines() -> list[str]:
    lines = []
    for name in registry.names():
        extra = registry.aliases_of(name)
        lines.append(name)
        lines.extend(f"{alias} -> {name}" for alias in extra["aliases"])
        lines.extend(f"{old} -> {name} (deprecated)" for old in extra["deprecated"])
    return lines


def test_public_names_match_golden_file():
    expected = GOLDEN.read_text().splitlines()
    actual = current_lines()
    added = sorted(set(actual) - set(expected))
    removed = sorted(set(expected) - set(actual))
    assert not added and not removed, (
        f"public names changed. Added: {added}. Removed: {removed}. If intended, run "
        "`.venv/bin/python tests/test_public_names.py --write` and commit the golden file."
    )


if __name__ == "__main__":
    if "--write" in sys.argv:
        GOLDEN.write_text("\n".join(current_lines()) + "\n")
        print(f"wrote {GOLDEN}")
