"""The lock (requirements.lock): every package pinned, within pyproject's ranges, installed.

``make test`` and ``make study`` install with ``pip install -c requirements.lock``, into a
``.venv`` made anew whenever the lock changes; the last test checks that the environment the
suite runs in is exactly the lock (``pip freeze``).
"""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from conftest import ROOT

LOCK = ROOT / "requirements.lock"
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;#]+)\s*$")


def parse_pins(text: str) -> dict[str, str]:
    """``name==version`` lines (comments and indented notes skipped) by canonical name."""
    pins: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        m = PIN.match(line)
        assert m, f"not a pin: {line!r}"
        name = canonicalize_name(m.group(1))
        assert name not in pins, f"{name} pinned twice"
        pins[name] = m.group(2)
    return pins


def _requirements() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return [
        Requirement(r)
        for r in [*project["dependencies"], *project["optional-dependencies"]["test"]]
    ]


def test_parse_pins_refuses_ranges_and_duplicates():
    assert parse_pins("# c\na-b==1.0\n    # via x\nC_d==2\n") == {"a-b": "1.0", "c-d": "2"}
    with pytest.raises(AssertionError, match="not a pin"):
        parse_pins("numpy>=2\n")
    with pytest.raises(AssertionError, match="pinned twice"):
        parse_pins("numpy==2.0\nNumPy==2.1\n")


def test_the_lock_pins_every_dependency_within_its_range():
    pins = parse_pins(LOCK.read_text())
    assert len(pins) > 40  # the whole dependency set, not only the direct ones
    for req in _requirements():
        name = canonicalize_name(req.name)
        assert name in pins, f"{req.name} is not in the lock"
        assert req.specifier.contains(pins[name], prereleases=True), (req, pins[name])


@pytest.mark.parametrize(
    ("package", "next_release"),
    [("pymc", "major"), ("pytensor", "major"), ("arviz", "major"), ("nutpie", "minor")],
)
def test_fast_moving_packages_have_an_upper_bound(package, next_release):
    """The next major version (nutpie, 0.x: the next minor) after the locked one is excluded."""
    req = next(r for r in _requirements() if canonicalize_name(r.name) == package)
    locked = Version(parse_pins(LOCK.read_text())[package])
    nxt = (
        Version(f"{locked.major + 1}.0.0")
        if next_release == "major"
        else Version(f"{locked.major}.{locked.minor + 1}.0")
    )
    assert not req.specifier.contains(nxt, prereleases=True), f"{req} admits {nxt}"
    assert req.specifier.contains(locked)


def test_the_makefile_installs_from_the_lock_and_readme_says_how_to_regenerate_it():
    make = (ROOT / "Makefile").read_text()
    installs = [line for line in make.splitlines() if "pip install" in line and "-e " in line]
    assert len(installs) == 2 and all("-c $(LOCK)" in line for line in installs)
    assert re.search(r"^\$\(VENV\)/\.locked: \$\(LOCK\)$", make, re.M)  # new lock, new venv
    generated_by = LOCK.read_text().splitlines()[1].strip("# ")
    assert generated_by.startswith("uv pip compile pyproject.toml")
    assert generated_by in (ROOT / "README.md").read_text()


def test_the_environment_is_exactly_the_lock():
    """``pip freeze`` of the project's .venv equals the lock (``make test`` made it from it)."""
    venv = ROOT / ".venv"
    if Path(sys.prefix).resolve() != venv.resolve():
        pytest.skip(
            f"not run from the project's .venv (sys.prefix is {sys.prefix}): only `make test` "
            "installs exactly the lock"
        )
    stamp = venv / ".locked"
    assert stamp.is_file() and stamp.read_text() == LOCK.read_text(), (
        "the .venv was made from another lock: run make test"
    )
    freeze = subprocess.run(
        [sys.executable, "-m", "pip", "freeze", "--exclude-editable"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    installed = parse_pins("\n".join(line for line in freeze.splitlines() if "==" in line))
    locked = parse_pins(LOCK.read_text())
    assert installed == locked, {
        "not in the lock": sorted(set(installed) - set(locked)),
        "missing": sorted(set(locked) - set(installed)),
        "other version": sorted(
            f"{k} {installed[k]} (lock {locked[k]})"
            for k in set(installed) & set(locked)
            if installed[k] != locked[k]
        ),
    }
