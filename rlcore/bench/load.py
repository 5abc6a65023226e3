"""Find a suite from what a user types: a registry name, or ``path/to/file.py:NAME``."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from rlcore.bench.suite import Suite
from rlcore.bench.worker import import_extra


def load_suite(ref: str) -> Suite:
    """The suite named by ``ref``.

    Args:
        ref: a registry name (``"suites.smoke"``; a bare ``"smoke"`` also works) or
            ``"path/to/file.py:NAME"`` for a ``Suite`` object defined in a Python file. Workers
            import that file too, so agents it exports with ``@rlcore.export`` are found there.

    Raises:
        rlcore.UnknownNameError: an unknown suite name, with suggestions.
        FileNotFoundError / ValueError / TypeError: a bad ``file.py:NAME``.
    """
    from rlcore import registry

    if not isinstance(ref, str) or not ref:
        raise TypeError(f"a suite is named by a string such as 'suites.smoke', got {ref!r}")
    path_part, sep, attr = ref.rpartition(":")
    if sep and path_part.endswith(".py"):
        path = Path(path_part).expanduser().resolve()
        if not path.is_file():
            raise FileNotFoundError(f"suite file {path} does not exist (from {ref!r})")
        module = import_extra(str(path))
        suite = vars(module).get(attr)
        if suite is None:
            found = sorted(k for k, v in vars(module).items() if isinstance(v, Suite))
            raise ValueError(
                f"{path} defines no suite {attr!r}; suites defined there: "
                f"{', '.join(found) or 'none'}"
            )
        if not isinstance(suite, Suite):
            raise TypeError(f"{ref} is a {type(suite).__name__}, not an rlcore.bench.Suite")
        if str(path) not in suite.imports:  # workers register what the file exports
            suite = replace(suite, imports=(*suite.imports, str(path)))
        return suite
    name = ref if ref.startswith("suites.") else f"suites.{ref}"
    try:
        suite = registry.get(name)
    except registry.UnknownNameError:
        if ref.endswith(".py") or "/" in ref:
            raise ValueError(
                f"{ref!r} looks like a file: name the suite inside it as {ref}:NAME"
            ) from None
        raise
    if not isinstance(suite, Suite):
        raise TypeError(f"{name!r} names a {type(suite).__name__}, not an rlcore.bench.Suite")
    return suite
