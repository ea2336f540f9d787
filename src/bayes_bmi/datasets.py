"""Example files and data sets shipped with bayes-bmi: models, hypotheses, survey, references.

The examples are the repository's ``models/`` and ``data/`` folders (and two public data sets
kept beside the test references). An installed wheel carries them as package data under
``bayes_bmi/examples/`` (``pyproject.toml`` maps the folders there, so git holds one copy);
a checkout of the repository (an editable install, or ``PYTHONPATH=src``) finds them in the
repository itself. Either way they are addressed by the same relative names::

    import bayes_bmi as bb

    bb.datasets.list()                              # name, description, source, file
    hs = bb.datasets.load("HolzingerSwineford1939")  # a DataFrame
    bb.datasets.path("models/hs_cfa.lav")           # a file, for bb.sem() or the command line
    bb.datasets.files()                             # every example file's relative name

Only the standard library and pandas (for :func:`load`) are used.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from importlib.resources import files as _package_files
from pathlib import Path
from typing import TYPE_CHECKING

from bayes_bmi.errors import OptionError

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "DATASETS",
    "Dataset",
    "example_files",
    "examples_root",
    "files",
    "list",
    "load",
    "path",
]


@dataclass(frozen=True)
class Dataset:
    """A data set shipped with the package.

    Attributes
    ----------
    name : str
        What :func:`load` takes.
    file : str
        Its example file, relative to the examples (``data/bmi_survey.csv``).
    description, source : str
        What it holds; where it comes from.
    """

    name: str
    file: str
    description: str
    source: str


#: The shipped data sets, in the order :func:`list` shows them.
DATASETS: tuple[Dataset, ...] = (
    Dataset(
        "bmi_survey",
        "data/bmi_survey.csv",
        "632 technology-based SMEs: 5 descriptors and 46 five-point items (TI1 ... FP4) of "
        "the business-model-innovation study; SYNTHETIC, with a known truth "
        "(data/ground_truth.json)",
        "simulated by bayes-bmi (scripts/generate_survey.py, seed 20261127) from "
        "data/ground_truth.json; see data/README.md",
    ),
    Dataset(
        "bmi_survey_groups",
        "data/bmi_survey_groups.csv",
        "1000 SMEs, small and medium (column size), 46 items as bmi_survey; SYNTHETIC: the "
        "path TI -> BMI is 0.10 in small and 0.45 in medium firms (data/ground_truth_groups.json)",
        "simulated by bayes-bmi (scripts/generate_survey.py --groups, seed 20261202); see "
        "data/README.md",
    ),
    Dataset(
        "bmi_codebook",
        "data/codebook.csv",
        "one row per item of bmi_survey: item, construct, construct name, English and "
        "Chinese wording",
        "written for bayes-bmi; see data/README.md",
    ),
    Dataset(
        "bm_literature",
        "data/literature/bm_elements.csv",
        "published business-model frameworks x 12 candidate elements (0/1)",
        "coded for bayes-bmi from the published frameworks listed in data/literature/README.md",
    ),
    Dataset(
        "expert_ratings",
        "data/experts/ratings_example.csv",
        "15 fictitious experts rate the 12 elements 1-5; SYNTHETIC",
        "scripts/make_expert_example.py (seed 20240517); see data/experts/README.md",
    ),
    Dataset(
        "HolzingerSwineford1939",
        "data/HolzingerSwineford1939.csv",
        "301 pupils: mental-ability tests x1-x9, school, grade",
        "Holzinger & Swineford (1939), as shipped in the R package lavaan",
    ),
    Dataset(
        "PoliticalDemocracy",
        "data/PoliticalDemocracy.csv",
        "75 developing countries: democracy 1960 and 1965 (y1-y8), industrialisation 1960 (x1-x3)",
        "Bollen (1989), as shipped in the R package lavaan",
    ),
    Dataset(
        "bfi",
        "data/bfi.csv",
        "2,800 respondents: 25 Big-Five personality items (6-point; A1-O5), gender, "
        "education, age; 508 item cells missing",
        "SAPA project (Revelle et al.), as shipped in the R package psych 2.2.9 (data(bfi))",
    ),
)

#: Example files kept elsewhere in a checkout of the repository (the wheel maps them into
#: ``examples/data/``; see ``[tool.hatch.build.targets.wheel.force-include]``).
IN_CHECKOUT = {
    "data/HolzingerSwineford1939.csv": "tests/data/HolzingerSwineford1939.csv",
    "data/PoliticalDemocracy.csv": "tests/data/PoliticalDemocracy.csv",
}
#: Folders of a checkout that are examples as a whole.
_FOLDERS = ("models", "data")


def _checkout() -> Path | None:
    """The repository this module was loaded from, if it was loaded from one."""
    root = Path(__file__).resolve().parents[2]
    if (root / "pyproject.toml").is_file() and all((root / f).is_dir() for f in _FOLDERS):
        return root
    return None


def examples_root() -> Path:
    """The folder that holds the examples (installed package data, or the repository).

    Raises
    ------
    OptionError
        When neither is found (a broken install).
    """
    packaged = _package_files("bayes_bmi").joinpath("examples")
    if packaged.is_dir():
        return Path(str(packaged))
    checkout = _checkout()
    if checkout is not None:
        return checkout
    raise OptionError(  # pragma: no cover - only a broken install gets here
        "the example files of bayes-bmi are missing from this installation "
        f"({packaged}); reinstall the package"
    )


def _location(root: Path, name: str) -> Path:
    if root.name != "examples" and name in IN_CHECKOUT:
        return root / IN_CHECKOUT[name]
    return root / name


def files() -> list[str]:
    """Every example file, as a relative name (``models/hs_cfa.lav``), sorted."""
    root = examples_root()
    names = {
        p.relative_to(root).as_posix()
        for folder in _FOLDERS
        for p in (root / folder).rglob("*")
        if p.is_file() and not p.name.startswith(".")
    }
    if root.name != "examples":
        names |= set(IN_CHECKOUT)
    return sorted(names)


def example_files() -> dict[str, Path]:
    """Every example file: relative name -> the file (:func:`files`, :func:`path`)."""
    root = examples_root()
    return {name: _location(root, name) for name in files()}


def _dataset(name: str) -> Dataset | None:
    return next((d for d in DATASETS if d.name == name), None)


def path(name: str) -> Path:
    """The file of a data set (``"bfi"``) or of an example (``"models/hs_cfa.lav"``).

    Raises
    ------
    OptionError
        When there is no such data set or example file (the message lists them).
    """
    if (ds := _dataset(name)) is not None:
        name = ds.file
    name = name.replace(os.sep, "/").removeprefix("./")
    root = examples_root()
    found = _location(root, name)
    if name.startswith("/") or ".." in name.split("/") or not found.is_file():
        raise OptionError(
            f"{name!r}: no such data set or example file. Data sets: "
            f"{', '.join(d.name for d in DATASETS)}; example files: bayes_bmi.datasets.files()"
        )
    return found


def load(name: str) -> pd.DataFrame:
    """A shipped data set as a DataFrame (empty cells are missing).

    Parameters
    ----------
    name : str
        A name from :func:`list` (``"bmi_survey"``, ``"HolzingerSwineford1939"``,
        ``"PoliticalDemocracy"``, ``"bfi"``, ...).

    Raises
    ------
    OptionError
        When there is no such data set.
    """
    import pandas as pd

    if _dataset(name) is None:
        raise OptionError(
            f"{name!r}: no such data set. Must be one of: {', '.join(d.name for d in DATASETS)}"
        )
    return pd.read_csv(path(name))


def list_datasets() -> pd.DataFrame:
    """The shipped data sets: ``name, description, source, file`` (one row each)."""
    import pandas as pd

    return pd.DataFrame(
        [(d.name, d.description, d.source, d.file) for d in DATASETS],
        columns=["name", "description", "source", "file"],
    )


#: ``bayes_bmi.datasets.list()``, as pingouin names it. It shadows the builtin in this module's
#: globals: no function here calls ``list(...)``.
list = list_datasets
