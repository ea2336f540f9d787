"""What the study runs: its inputs and settings (where to write is the writer's business)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from bayes_bmi.bayes.sampling import SamplerConfig

__all__ = ["StudyConfig"]


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
    missing_codes : tuple of float
        Values of the data that mean "missing" (``--missing-codes``).
    sheet : str or int or None
        Worksheet of an Excel data file (``--sheet``; default the first).
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
    sampler: SamplerConfig = field(default_factory=lambda: SamplerConfig(progress=False))
    compare: bool = True
    missing_codes: tuple[float, ...] = ()
    sheet: str | int | None = None
