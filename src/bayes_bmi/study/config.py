"""What the study runs: its inputs and settings (where to write is the writer's business)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bayes_bmi.errors import OptionError

if TYPE_CHECKING:
    from bayes_bmi.bayes.sampling import SamplerConfig

__all__ = ["EXAMPLE_INPUTS", "StudyConfig", "example_input"]

#: The shipped example study's inputs (``make study``), as example names
#: (:mod:`bayes_bmi.datasets`).
EXAMPLE_INPUTS = {
    "data": "data/bmi_survey.csv",
    "model": "models/bmi_drivers.lav",
    "hypotheses": "models/bmi_drivers.hypotheses.toml",
    "alternatives": ("models/bmi_drivers_direct.lav", "models/bmi_drivers_dimensions.lav"),
    "truth": "data/ground_truth.json",
    "literature": "data/literature/bm_elements.csv",
    "experts": "data/experts/ratings_example.csv",
}


def _sampler(**options: Any) -> SamplerConfig:
    """A SamplerConfig, imported only when one is made.

    The CLI resolves the example inputs from this module before it loads the numerical stack.
    """
    from bayes_bmi.bayes.sampling import SamplerConfig

    return SamplerConfig(**options)


def example_input(name: str) -> Path:
    """A shipped input, from the working folder when it has the file, else the package's copy.

    ``name`` relative to the working folder when that file exists there (a checkout of the
    repository, or a folder made by ``bayes-bmi examples``: the report then prints the short
    path), else the copy shipped with the package (:func:`bayes_bmi.datasets.path`).
    """
    local = Path(name)
    if local.is_file():
        return local
    from bayes_bmi.datasets import path

    return path(name)


@dataclass(frozen=True)
class StudyConfig:
    """What to run (where to write is the writer's business).

    Attributes
    ----------
    data, model, hypotheses : Path
        Survey data (csv/xlsx/sav), the main model (.lav), its hypotheses (.toml). The report
        prints them as given: relative paths stay relative.
    alternatives : tuple of Path
        Alternative models on the same items, compared with the main one.
    truth : Path or None
        Ground truth of simulated data (``data/ground_truth.json``): the report then says which
        true paths the 95% intervals recovered.
    literature, experts : Path or None
        Inputs of the literature count and the expert screening stages.
    pca_items : tuple of str or None
        Items for the PCA stage; default: the indicators of the first-order factors that
        measure the focal (second-order) construct.
    scale : (int, int)
        Response scale of the items (Likert range).
    sampler : SamplerConfig
    compare : bool
        Fit the alternatives and the independence model (PPP, fit indices, LOO/WAIC).
    missing : {"fiml", "listwise"} or None
        Missing answers (``--missing``): full-information ML on every observed answer, or
        complete rows only; None: ``"fiml"`` when the model's items have missing cells.
    missing_codes : tuple of float
        Values of the data that mean "missing" (``--missing-codes``).
    sheet : str or int or None
        Worksheet of an Excel data file (``--sheet``; default the first).
    ordinal : bool
        Also fit the main model with every item as an ordered category (``--ordinal``; a
        cumulative-probit model) and set its hypothesis verdicts beside the continuous ones.
    group : str or None
        A column of the data that splits the firms into groups (``--group``): the study then
        adds measurement invariance by group and the hypothesised drivers' paths by group
        (stage 11). None: one group.
    """

    data: Path
    model: Path
    hypotheses: Path
    alternatives: tuple[Path, ...] = ()
    truth: Path | None = None
    literature: Path | None = None
    experts: Path | None = None
    pca_items: tuple[str, ...] | None = None
    scale: tuple[int, int] = (1, 5)
    sampler: SamplerConfig = field(default_factory=lambda: _sampler(progress=False))
    compare: bool = True
    missing: str | None = None
    missing_codes: tuple[float, ...] = ()
    sheet: str | int | None = None
    ordinal: bool = False
    group: str | None = None

    @classmethod
    def example(cls, sampler: SamplerConfig | None = None, **changes: Any) -> StudyConfig:
        """The shipped example study (as ``make study``): every stage, the alternatives, the truth.

        Inputs are found by :func:`example_input`, so it runs from any folder.
        """
        e = EXAMPLE_INPUTS
        config = cls(
            data=example_input(e["data"]),
            model=example_input(e["model"]),
            hypotheses=example_input(e["hypotheses"]),
            alternatives=tuple(example_input(a) for a in e["alternatives"]),
            truth=example_input(e["truth"]),
            literature=example_input(e["literature"]),
            experts=example_input(e["experts"]),
            sampler=sampler or _sampler(progress=False),
        )
        return dataclasses.replace(config, **changes)

    def __post_init__(self) -> None:
        if self.missing is not None and self.missing not in ("fiml", "listwise"):
            raise OptionError(f"unknown missing {self.missing!r}. Must be one of: fiml, listwise")
        if self.group is not None and (not isinstance(self.group, str) or not self.group):
            raise OptionError(f"--group: give a column name, not {self.group!r}")

    def input_files(self) -> dict[str, Path | tuple[Path, ...] | None]:
        """Every input file by role (None: a stage that is not run)."""
        return {
            "data": self.data,
            "model": self.model,
            "hypotheses": self.hypotheses,
            "alternative": self.alternatives,
            "truth": self.truth,
            "literature": self.literature,
            "experts": self.experts,
        }

    def command_line(self, out: str | Path) -> list[str] | None:
        """Arguments of ``bayes-bmi study`` that run this study into ``out``.

        None when no command line can express it (settings only the Python API has: PCA
        items, another scale, other sampler settings than draws, tune, chains and seed).
        """
        s = self.sampler
        cli = _sampler(draws=s.draws, tune=s.tune, chains=s.chains, seed=s.seed)
        if (
            dataclasses.replace(s, progress=cli.progress) != cli
            or self.pca_items is not None
            or self.scale != (1, 5)
            or isinstance(self.sheet, int)
        ):
            return None
        args = ["study", "--data", str(self.data), "--model", str(self.model)]
        args += ["--hypotheses", str(self.hypotheses), "--out", str(out)]
        for alternative in self.alternatives:
            args += ["--alternative", str(alternative)]
        for option, path in (
            ("--truth", self.truth),
            ("--literature", self.literature),
            ("--experts", self.experts),
        ):
            if path is not None:
                args += [option, str(path)]
        args += ["--draws", str(s.draws), "--tune", str(s.tune), "--chains", str(s.chains)]
        args += ["--seed", str(s.seed)]
        if not self.compare:
            args.append("--no-compare")
        if self.missing is not None:
            args += ["--missing", self.missing]
        if self.ordinal:
            args.append("--ordinal")
        if self.group is not None:
            args += ["--group", self.group]
        if self.missing_codes:
            args += ["--missing-codes", ",".join(str(c) for c in self.missing_codes)]
        if self.sheet is not None:
            args += ["--sheet", self.sheet]
        return args
