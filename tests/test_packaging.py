"""Every package folder is installed: pyproject lists each one (envs/ maps to rlcore.envs)."""

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_every_package_is_listed_in_pyproject():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"])
    found = set()
    for init in list((ROOT / "rlcore").rglob("__init__.py")) + list(
        (ROOT / "envs").rglob("__init__.py")
    ):
        rel = init.parent.relative_to(ROOT)
        parts = rel.parts
        if parts[0] == "envs":
            parts = ("rlcore", "envs", *parts[1:])
        found.add(".".join(parts))
    assert found == listed, f"add {sorted(found - listed)} / remove {sorted(listed - found)}"
    assert config["package-dir"]["rlcore.envs"] == "envs"
