"""What made an output: versions, Python, platform, seed, command line, inputs' SHA-256.

Every command that writes results (``fit``, ``ml``, ``compare``, ``study``, ``make study``)
records a :class:`Provenance` beside them (``provenance.json``; also inside
``diagnostics.json``/``fit.json``, the report's last section and the attributes of
``posterior.nc``), so that a result can be traced and rerun years later:
``bayes-bmi rerun DIR`` (or ``bayes-bmi study --rerun DIR``) checks the inputs' hashes, runs the
recorded command again and compares every table (:func:`compare_tables`).

Standard library only: the command line records provenance before the numerical stack loads.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import platform
import re
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from bayes_bmi.errors import OptionError

__all__ = [
    "PROVENANCE_NAME",
    "InputCheck",
    "InputFile",
    "Provenance",
    "TableComparison",
    "collect",
    "compare_tables",
    "describe_inputs",
    "package_versions",
    "read_provenance",
    "rerun_arguments",
    "sha256_file",
    "verify_inputs",
    "version_changes",
]

#: The file every output folder gets.
PROVENANCE_NAME = "provenance.json"
#: Version of the record's layout (raised when a field changes meaning).
SCHEMA = 1
#: Where the package's requirements are walked from when its own metadata is missing
#: (run from a source tree that was never installed).
CORE = (
    "numpy",
    "scipy",
    "pandas",
    "xarray",
    "matplotlib",
    "typer",
    "pymc",
    "pytensor",
    "arviz",
    "arviz-stats",
    "nutpie",
    "h5netcdf",
    "h5py",
    "openpyxl",
    "pyreadstat",
)
#: Packages the report names (the rest are in provenance.json).
KEY_PACKAGES = (
    "bayes-bmi",
    "numpy",
    "scipy",
    "pandas",
    "xarray",
    "pymc",
    "pytensor",
    "arviz",
    "arviz-stats",
    "nutpie",
    "numba",
)
_CHUNK = 1 << 20


def _canonical(name: str) -> str:
    """A distribution name as pip compares them (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def sha256_file(path: str | Path) -> str:
    """SHA-256 of a file's bytes, as hex."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _requirement_names(dist: metadata.Distribution) -> list[str]:
    """Names a distribution requires unconditionally (extras' requirements are left out)."""
    names = []
    for req in dist.requires or ():
        spec, _, marker = req.partition(";")
        if "extra" in marker:
            continue
        if m := re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", spec):
            names.append(_canonical(m.group(1)))
    return names


def package_versions(roots: Iterable[str] = ("bayes-bmi", *CORE)) -> dict[str, str]:
    """Installed versions of ``roots`` and of everything they require, by canonical name.

    Parameters
    ----------
    roots : iterable of str
        Distributions to start from; those not installed are left out.

    Returns
    -------
    dict
        Canonical name -> version, sorted by name.
    """
    found: dict[str, str] = {}
    todo = [_canonical(r) for r in roots]
    while todo:
        name = todo.pop()
        if name in found:
            continue
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        found[name] = dist.version
        todo.extend(_requirement_names(dist))
    return dict(sorted(found.items()))


def _git_commit(repo: Path) -> str | None:
    """The commit checked out in ``repo`` if it is a git checkout (None otherwise).

    Read from the ``.git`` files (no ``git`` program needed). Only the repository the package
    was loaded from is looked at: an installed package has none.
    """
    dot_git = repo / ".git"
    try:
        if dot_git.is_file():  # a worktree: "gitdir: PATH"
            text = dot_git.read_text(encoding="utf-8").strip()
            git_dir = (repo / text.removeprefix("gitdir:").strip()).resolve()
        elif dot_git.is_dir():
            git_dir = dot_git
        else:
            return None
        head = (git_dir / "HEAD").read_text(encoding="utf-8").strip()
        if not head.startswith("ref:"):
            return head  # detached
        ref = head.removeprefix("ref:").strip()
        common = git_dir
        if (git_dir / "commondir").is_file():
            common = (git_dir / (git_dir / "commondir").read_text().strip()).resolve()
        for base in (git_dir, common):
            if (base / ref).is_file():
                return (base / ref).read_text(encoding="utf-8").strip()
        for line in (common / "packed-refs").read_text(encoding="utf-8").splitlines():
            if line.endswith(" " + ref):
                return line.split()[0]
    except OSError:
        return None
    return None


@dataclass(frozen=True)
class InputFile:
    """One input file of a run.

    Attributes
    ----------
    role : str
        What it was (``data``, ``model``, ``--hypotheses``, ...).
    path : str
        As given (relative paths stay relative).
    resolved : str
        Absolute path at the time of the run.
    sha256 : str
    size : int
        Bytes.
    example : str or None
        Its name among the shipped examples (``models/bmi_drivers.lav``) when it is one, so
        that a rerun in another installation finds it again.
    """

    role: str
    path: str
    resolved: str
    sha256: str
    size: int
    example: str | None = None


def describe_inputs(
    inputs: Mapping[str, Path | str | Sequence[Path | str] | None],
    examples: Mapping[str, Path] | None = None,
) -> tuple[InputFile, ...]:
    """Hash every input file (roles with None are skipped; a sequence gives one row each).

    Parameters
    ----------
    inputs : mapping
        Role -> path, or a sequence of paths (``--alternative``), or None.
    examples : mapping, optional
        The shipped examples: name -> file (:func:`bayes_bmi.datasets.example_files`); inputs
        that are one of them are marked with its name.
    """
    out = []
    names = {p.resolve(): name for name, p in (examples or {}).items()}
    for role, value in inputs.items():
        paths = [value] if isinstance(value, str | Path) else list(value or ())
        for p in paths:
            resolved = Path(p).resolve()
            example = names.get(resolved)
            out.append(
                InputFile(
                    role=role,
                    path=str(p),
                    resolved=str(resolved),
                    sha256=sha256_file(resolved),
                    size=resolved.stat().st_size,
                    example=example,
                )
            )
    return tuple(out)


@dataclass(frozen=True)
class Provenance:
    """What made an output.

    Attributes
    ----------
    command : str
        ``study``, ``fit``, ``ml``, ``compare`` (a command of ``bayes-bmi``), or ``python``.
    argv : tuple of str or None
        Arguments that run the command again (after ``bayes-bmi``); None when the run cannot
        be written as a command line (settings only the Python API has).
    cwd : str
        Working folder of the run (relative paths in ``argv`` are relative to it).
    seed : int or None
    settings : mapping
        Everything else that decides the numbers (sampler settings, options), as JSON values.
    inputs : tuple of InputFile
    packages : mapping
        Installed version of bayes-bmi and of everything it requires.
    python, platform : str
        ``sys.version``; ``platform.platform()`` and the machine.
    bayes_bmi : str
        bayes-bmi's version; ``source`` the git commit it was loaded from, if any.
    created : str
        When (UTC, ISO 8601).
    """

    command: str
    argv: tuple[str, ...] | None
    cwd: str
    seed: int | None
    settings: Mapping[str, Any] = field(default_factory=dict)
    inputs: tuple[InputFile, ...] = ()
    packages: Mapping[str, str] = field(default_factory=dict)
    python: str = ""
    platform: str = ""
    bayes_bmi: str = ""
    source: str | None = None
    created: str = ""
    schema: int = SCHEMA

    def command_line(self) -> str:
        """``bayes-bmi study --data ...`` (shell-quoted), or a note when there is none."""
        if self.argv is None:
            return f"(none: written by {self.command}; see the settings)"
        import shlex

        return shlex.join(["bayes-bmi", *self.argv])

    def to_dict(self) -> dict[str, Any]:
        """As JSON values (the layout of ``provenance.json``)."""
        return {
            "schema": self.schema,
            "command": self.command,
            "command_line": self.command_line(),
            "argv": list(self.argv) if self.argv is not None else None,
            "cwd": self.cwd,
            "seed": self.seed,
            "settings": dict(self.settings),
            "inputs": [vars(f).copy() for f in self.inputs],
            "bayes_bmi": self.bayes_bmi,
            "source": self.source,
            "python": self.python,
            "platform": self.platform,
            "packages": dict(self.packages),
            "created": self.created,
        }

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> Provenance:
        """Read :meth:`to_dict`'s layout back.

        Raises
        ------
        KeyError, TypeError, ValueError
            When ``doc`` is not such a record.
        """
        argv = doc["argv"]
        return cls(
            command=str(doc["command"]),
            argv=tuple(str(a) for a in argv) if argv is not None else None,
            cwd=str(doc["cwd"]),
            seed=None if doc.get("seed") is None else int(doc["seed"]),
            settings=dict(doc.get("settings") or {}),
            inputs=tuple(InputFile(**f) for f in doc.get("inputs") or ()),
            packages=dict(doc.get("packages") or {}),
            python=str(doc.get("python", "")),
            platform=str(doc.get("platform", "")),
            bayes_bmi=str(doc.get("bayes_bmi", "")),
            source=doc.get("source"),
            created=str(doc.get("created", "")),
            schema=int(doc.get("schema", SCHEMA)),
        )

    def attrs(self) -> dict[str, str | int]:
        """Flat attributes for a netCDF file (``posterior.nc``): strings and numbers only."""
        out: dict[str, str | int] = {
            "bayes_bmi_version": self.bayes_bmi,
            "bayes_bmi_command": self.command_line(),
            "python_version": self.python,
            "platform": self.platform,
            "provenance": json.dumps(self.to_dict(), sort_keys=True),
        }
        if self.seed is not None:
            out["seed"] = self.seed
        return out

    def tag(self, tree: Any) -> Any:
        """A shallow copy of an ``xarray.DataTree`` with :meth:`attrs` added to its root."""
        tagged = tree.copy()
        tagged.attrs = {**tree.attrs, **self.attrs()}
        return tagged

    def key_packages(self) -> dict[str, str]:
        """The versions the report names (:data:`KEY_PACKAGES`), in that order."""
        return {k: self.packages[k] for k in KEY_PACKAGES if k in self.packages}


def _jsonable(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def collect(
    command: str,
    *,
    argv: Sequence[str] | None,
    seed: int | None = None,
    settings: Mapping[str, Any] | None = None,
    inputs: Mapping[str, Path | str | Sequence[Path | str] | None] | None = None,
    examples: Mapping[str, Path] | None = None,
    cwd: Path | None = None,
) -> Provenance:
    """Record what is making an output now (hashes the input files).

    Parameters
    ----------
    command : str
        The command (``study``, ``fit``, ...) or ``python``.
    argv : sequence of str or None
        Arguments that run it again (after ``bayes-bmi``), or None.
    seed : int, optional
    settings : mapping, optional
        Other settings (Paths become strings).
    inputs : mapping, optional
        Role -> input file(s) (:func:`describe_inputs`).
    examples : mapping, optional
        The shipped examples, name -> file (inputs that are one are marked with its name).
    cwd : Path, optional
        The working folder (default: the current one).
    """
    packages = package_versions()
    return Provenance(
        command=command,
        argv=tuple(str(a) for a in argv) if argv is not None else None,
        cwd=str(cwd or Path.cwd()),
        seed=seed,
        settings=_jsonable(dict(settings or {})),
        inputs=describe_inputs(inputs or {}, examples),
        packages=packages,
        python=sys.version.split()[0],
        platform=f"{platform.platform()} ({platform.machine()})",
        bayes_bmi=packages.get("bayes-bmi", "unknown (not installed)"),
        source=_git_commit(Path(__file__).resolve().parents[2]),
        created=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    )


def read_provenance(folder: str | Path) -> Provenance:
    """The provenance recorded in an output folder.

    Raises
    ------
    OptionError
        When the folder has no readable ``provenance.json``.
    """
    path = Path(folder) / PROVENANCE_NAME
    if not path.is_file():
        raise OptionError(
            f"{folder}: no {PROVENANCE_NAME} there; give a folder written by bayes-bmi "
            "(fit, ml, compare, study or make study)"
        )
    try:
        return Provenance.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except (ValueError, KeyError, TypeError) as exc:
        raise OptionError(f"{path}: not a provenance record ({exc})") from None


# ----------------------------------------------------------------------------- checking
@dataclass(frozen=True)
class InputCheck:
    """How an input file compares with its record.

    Attributes
    ----------
    recorded : InputFile
    status : str
        ``same``, ``changed`` or ``missing``.
    found : str or None
        The file checked (the recorded path, or the shipped example of that name).
    """

    recorded: InputFile
    status: str
    found: str | None

    def describe(self) -> str:
        """One line: ``changed: data/bmi_survey.csv (SHA-256 was 1a2b..., now 3c4d...)``."""
        r = self.recorded
        if self.status == "same":
            return f"unchanged: {r.path}"
        if self.status == "missing":
            return f"missing: {r.path} (was {r.resolved})"
        now = sha256_file(self.found) if self.found else "?"
        return f"changed: {r.path} ({r.role}; SHA-256 was {r.sha256[:12]}..., now {now[:12]}...)"


def verify_inputs(prov: Provenance, examples: Mapping[str, Path] | None = None) -> list[InputCheck]:
    """Compare every recorded input file with the file there now.

    A file recorded as a shipped example that is not at its recorded place any more (another
    installation) is looked up among ``examples`` (name -> file).
    """
    checks = []
    for rec in prov.inputs:
        candidates = [Path(rec.resolved)]
        if rec.example is not None and rec.example in (examples or {}):
            candidates.append(Path((examples or {})[rec.example]))
        found = next((c for c in candidates if c.is_file()), None)
        if found is None:
            checks.append(InputCheck(rec, "missing", None))
            continue
        same = found.stat().st_size == rec.size and sha256_file(found) == rec.sha256
        checks.append(InputCheck(rec, "same" if same else "changed", str(found)))
    return checks


def rerun_arguments(prov: Provenance, checks: Sequence[InputCheck], out: Path) -> list[str]:
    """The recorded arguments with every input at the file found and ``--out`` replaced.

    Raises
    ------
    OptionError
        When the record has no command line.
    """
    if prov.argv is None or prov.command == "python":
        raise OptionError(
            f"this folder was written by {prov.command} with settings no command line "
            "expresses; rerun it from Python with the settings in provenance.json"
        )
    where = {c.recorded.path: c.found for c in checks if c.found is not None}
    args = [where.get(a, a) for a in prov.argv]
    if "--out" in args:
        args[args.index("--out") + 1] = str(out)
    else:
        args += ["--out", str(out)]
    return args


def version_changes(prov: Provenance, now: Mapping[str, str] | None = None) -> list[str]:
    """``numpy 2.5.5 -> 2.6.0`` for every recorded package whose version differs now."""
    now = package_versions() if now is None else now
    return [
        f"{name} {version} -> {now.get(name, 'not installed')}"
        for name, version in prov.packages.items()
        if now.get(name) != version
    ]


# ------------------------------------------------------------------------------ tables
@dataclass(frozen=True)
class TableComparison:
    """Tables (CSV files) of two output folders compared byte for byte.

    Attributes
    ----------
    identical : tuple of str
    differ : tuple of str
        One line per differing table: its name and where the first difference is.
    missing : tuple of str
        In the recorded folder, not in the rerun.
    extra : tuple of str
        In the rerun only.
    """

    identical: tuple[str, ...]
    differ: tuple[str, ...]
    missing: tuple[str, ...]
    extra: tuple[str, ...]

    @property
    def same(self) -> bool:
        """Whether every table came out identical (and no table is missing or new)."""
        return not (self.differ or self.missing or self.extra)

    def describe(self) -> str:
        """A few lines for the terminal."""
        n = len(self.identical) + len(self.differ) + len(self.missing)
        lines = [f"tables: {len(self.identical)} of {n} identical"]
        lines += [f"  differs: {d}" for d in self.differ]
        lines += [f"  missing from the rerun: {m}" for m in self.missing]
        lines += [f"  new in the rerun: {e}" for e in self.extra]
        return "\n".join(lines)


def _tables(folder: Path) -> dict[str, Path]:
    return {
        p.relative_to(folder).as_posix(): p
        for p in sorted(folder.rglob("*.csv"))
        if not any(part.startswith(".") for part in p.relative_to(folder).parts)
    }


def _first_difference(old: bytes, new: bytes) -> str:
    """``line 4, column est: 0.5123 vs 0.5124`` (or the row counts)."""
    a = list(csv.reader(io.StringIO(old.decode("utf-8", "replace"))))
    b = list(csv.reader(io.StringIO(new.decode("utf-8", "replace"))))
    header = a[0] if a else []
    for i, (ra, rb) in enumerate(zip(a, b, strict=False), start=1):
        if ra != rb:
            for j, (x, y) in enumerate(zip(ra, rb, strict=False)):
                if x != y:
                    col = header[j] if j < len(header) else str(j + 1)
                    return f"line {i}, column {col}: {x} vs {y}"
            return f"line {i}: {len(ra)} vs {len(rb)} fields"
    return f"{len(a)} vs {len(b)} lines"


def compare_tables(recorded: str | Path, rerun: str | Path) -> TableComparison:
    """Compare every CSV table of two output folders, byte for byte.

    The tables are written with 10 significant digits (:func:`bayes_bmi.io.csv_text`), so
    "identical" means equal to 10 significant digits in every cell, and equal row order.
    """
    old, new = _tables(Path(recorded)), _tables(Path(rerun))
    identical, differ = [], []
    for name in sorted(set(old) & set(new)):
        a, b = old[name].read_bytes(), new[name].read_bytes()
        if a == b:
            identical.append(name)
        else:
            differ.append(f"{name} ({_first_difference(a, b)})")
    return TableComparison(
        identical=tuple(identical),
        differ=tuple(differ),
        missing=tuple(sorted(set(old) - set(new))),
        extra=tuple(sorted(set(new) - set(old))),
    )
