"""Synthetic hiring data with a planted (or absent) group disparity: the tabular audit's ground truth.

Each applicant has two merit features, a binary `sex` and a three-valued `race`. The label
is a noisy threshold of merit plus, when `disparity` > 0, a bonus of +disparity for
sex=1 and -disparity for sex=0. With `disparity` = 0 the label does not depend on any
group, so a model fitted on these columns has no reason to treat the groups differently.
`race` never enters the label: it is a control attribute in both variants.
"""

from __future__ import annotations

import numpy as np


def hiring_data(n: int = 2000, *, disparity: float = 0.0, seed: int = 0):
    """A DataFrame with columns experience, test_score, sex (0/1), race ("a"/"b"/"c") and hired (0/1)."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    sex = rng.integers(0, 2, n)
    race = rng.choice(np.array(["a", "b", "c"]), size=n, p=[0.5, 0.3, 0.2])
    experience = rng.normal(0.0, 1.0, n)
    test_score = rng.normal(0.0, 1.0, n)
    merit = 0.9 * experience + 0.7 * test_score + disparity * np.where(sex == 1, 1.0, -1.0)
    hired = (merit + rng.normal(0.0, 0.6, n) > 0).astype(int)
    return pd.DataFrame({"experience": experience, "test_score": test_score, "sex": sex, "race": race,
                         "hired": hired})


def fit_hiring_model(frame, *, seed: int = 0):
    """A logistic regression on every column but the label (race one-hot encoded), for audits to examine."""
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder

    features = frame.drop(columns=["hired"])
    prep = ColumnTransformer([("race", OneHotEncoder(handle_unknown="ignore"), ["race"])], remainder="passthrough")
    model = Pipeline([("prep", prep), ("clf", LogisticRegression(random_state=seed))])
    return model.fit(features, frame["hired"])
