"""Generate the SYNTHETIC expert-rating example in ``data/experts/ratings_example.csv``.

Fifteen fictitious experts rate twelve candidate business-model elements on a 1-5 scale. Each
element has an assumed "true" importance; each expert has a leniency offset; each rating adds
noise and is rounded and clipped to the scale. The numbers illustrate the screening step only
and describe no real survey.

Run from the repository root: ``python scripts/make_expert_example.py``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

SEED = 20240517
N_EXPERTS = 15
# assumed mean importance of each candidate element (illustrative, not data)
TRUE_MEANS = {
    "value_proposition": 4.6,
    "customer_segments": 4.3,
    "channels": 3.6,
    "customer_relationships": 3.9,
    "revenue_model": 4.4,
    "cost_structure": 3.7,
    "key_resources": 4.1,
    "key_activities": 3.8,
    "key_partners": 3.3,
    "value_network": 3.0,
    "competitive_strategy": 3.4,
    "value_capture": 4.0,
}
LENIENCY_SD = 0.3
NOISE_SD = 0.6

OUT = Path(__file__).resolve().parents[1] / "data" / "experts" / "ratings_example.csv"


def make_ratings(seed: int = SEED) -> pd.DataFrame:
    """Return the synthetic experts x elements table (integer ratings 1-5)."""
    rng = np.random.default_rng(seed)
    means = np.array(list(TRUE_MEANS.values()))
    leniency = rng.normal(0.0, LENIENCY_SD, size=(N_EXPERTS, 1))
    noise = rng.normal(0.0, NOISE_SD, size=(N_EXPERTS, means.size))
    ratings = np.clip(np.rint(means + leniency + noise), 1, 5).astype(int)
    df = pd.DataFrame(ratings, columns=list(TRUE_MEANS))
    df.insert(0, "expert", [f"E{i:02d}" for i in range(1, N_EXPERTS + 1)])
    return df


def main() -> None:
    df = make_ratings()
    OUT.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(OUT, index=False)
    print(f"wrote {OUT} ({df.shape[0]} experts x {df.shape[1] - 1} elements)")


if __name__ == "__main__":
    main()
