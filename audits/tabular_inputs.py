"""Validated inputs of a tabular fairness audit: the table, the binary label, the protected groupings.

Everything a user can get wrong is checked here, before any model runs or any file is
written, and all problems are reported at once in one `UserError` line: a missing label
or protected column, missing labels or group values, a protected attribute with a single
group, labels that are not binary with no favorable label named, a privileged value
that does not occur.

Values are compared as normalised strings ("1", "1.0" and 1 are the same value), so
`--privileged sex=1` and `--favorable 1` match integer, float or string columns alike.
A grouping is one protected attribute, or (with two or more) their intersection, whose
groups are the value combinations present ("sex=1,race=b").
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from evalsuite.errors import UserError

INTERSECTION = "*"


def normalise(value) -> str:
    """A comparable text form of a cell or option value: 1, 1.0, "1" and "1.0" all give "1"."""
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    text = str(value).strip()
    try:
        number = float(text)
    except ValueError:
        return text
    return str(int(number)) if number.is_integer() else text


@dataclass
class Grouping:
    """One attribute (or intersection) with every row's group code."""

    attribute: str
    columns: list[str]
    codes: np.ndarray
    names: list[str]
    privileged: int | None  # the code of the user's privileged group, if one was named


@dataclass
class AuditInputs:
    frame: object  # the pandas DataFrame, rows in the audited order
    label: str
    favorable: str  # normalised favorable label value
    y: np.ndarray  # 1.0 where the label is favorable
    groupings: list[Grouping]  # the first is the primary one (the record's bare metric names)


def parse_privileged(items) -> dict[str, str]:
    """`["sex=1", "race=white"]` (or a dict) -> {"sex": "1", "race": "white"}."""
    if isinstance(items, dict):
        return {str(k): normalise(v) for k, v in items.items()}
    out = {}
    for item in items or ():
        column, sep, value = str(item).partition("=")
        if not sep or not column.strip():
            raise UserError(f"--privileged '{item}' is not COLUMN=VALUE; write e.g. --privileged sex=1")
        out[column.strip()] = normalise(value)
    return out


def _favorable(values: set[str], favorable, label: str, problems: list[str]) -> str | None:
    if favorable is not None:
        fav = normalise(favorable)
        if values and fav not in values:
            problems.append(f"favorable label '{favorable}' does not occur in column '{label}' "
                            f"(values: {', '.join(sorted(values)[:10])})")
        return fav
    if values <= {"0", "1"}:
        return "1"
    if values <= {"True", "False"}:
        return "True"
    problems.append(f"label column '{label}' has values {', '.join(sorted(values)[:10])}, not 0/1; "
                    "name the favorable one with --favorable VALUE")
    return None


def role_problems(*, label: str, protected, privileged=None, features=None, text=None) -> list[str]:
    """Problems with the column roles alone (no data needed): each column has one role, named once."""
    protected = [protected] if isinstance(protected, str) else list(protected or [])
    problems = []
    if not protected:
        problems.append("no protected attribute given; pass --protected COLUMN[,COLUMN]")
    repeated = sorted({c for c in protected if protected.count(c) > 1})
    if repeated:
        problems.append(f"protected attribute {', '.join(repr(c) for c in repeated)} is listed more than once; "
                        "name each once")
    if label in protected:
        problems.append(f"the label column '{label}' is also named as a protected attribute; a column is either "
                        "the label or a protected attribute (check --label and --protected)")
    if features and label in features:
        problems.append(f"the label column '{label}' is also listed as a feature; drop it from --features")
    if text is not None and text == label:
        problems.append(f"the label column '{label}' is also the text column; check --text")
    try:
        priv = parse_privileged(privileged)
    except UserError as exc:
        problems.append(str(exc))
    else:
        unknown_priv = [c for c in priv if c not in protected]
        if unknown_priv:
            problems.append(f"--privileged names {', '.join(unknown_priv)}, which is not a protected attribute")
    return problems


def column_problems(frame, *, label: str, protected, privileged=None, features=None, text=None) -> list[str]:
    """Role problems, and every named column the table lacks (all at once)."""
    protected = [protected] if isinstance(protected, str) else list(protected or [])
    problems = role_problems(label=label, protected=protected, privileged=privileged, features=features, text=text)
    named = [label, *protected, *(features or []), *([text] if text is not None else [])]
    missing = list(dict.fromkeys(c for c in named if c not in frame.columns))
    if missing:
        problems.append(f"data has no column {', '.join(repr(c) for c in missing)} "
                        f"(columns: {', '.join(map(str, frame.columns))})")
    if len(frame) == 0:
        problems.append("data has no rows")
    return problems


def prepare(frame, *, label: str, protected, privileged=None, favorable=None) -> AuditInputs:
    """Check the table and encode label and groups; raises one UserError listing every problem."""
    protected = [protected] if isinstance(protected, str) else list(protected or [])
    problems = column_problems(frame, label=label, protected=protected, privileged=privileged)
    if problems:
        raise UserError("; ".join(problems))
    privileged = parse_privileged(privileged)

    fav = None
    n_missing = int(frame[label].isna().sum())
    if n_missing:
        problems.append(f"label column '{label}' has {n_missing} missing values; drop or fill those rows")
    else:
        fav = _favorable({normalise(v) for v in frame[label]}, favorable, label, problems)
    columns = {}
    for col in protected:
        n_missing = int(frame[col].isna().sum())
        if n_missing:
            problems.append(f"protected column '{col}' has {n_missing} missing values; drop or fill those rows")
            continue
        columns[col] = np.array([normalise(v) for v in frame[col]], dtype=object)
        present = set(columns[col])
        if len(present) < 2:
            problems.append(f"protected column '{col}' has only one group ({next(iter(present))}); "
                            "a fairness audit compares at least two")
        if col in privileged and privileged[col] not in present:
            problems.append(f"privileged value {col}={privileged[col]} does not occur "
                            f"(values: {', '.join(sorted(present)[:10])})")
    if problems:
        raise UserError("; ".join(problems))

    y = np.array([normalise(v) == fav for v in frame[label]], dtype=float)
    groupings = [_grouping([c], columns, privileged) for c in protected]
    if len(protected) >= 2:
        groupings.append(_grouping(protected, columns, privileged))
    return AuditInputs(frame, label, fav, y, groupings)


def _grouping(cols: list[str], columns: dict, privileged: dict) -> Grouping:
    keys = [",".join(f"{c}={columns[c][i]}" for c in cols) for i in range(len(columns[cols[0]]))]
    names = sorted(set(keys))
    index = {name: i for i, name in enumerate(names)}
    priv = None
    if all(c in privileged for c in cols):
        wanted = ",".join(f"{c}={privileged[c]}" for c in cols)
        priv = index.get(wanted)  # an intersection may lack the combination: then no privileged group
    return Grouping(INTERSECTION.join(cols), cols, np.array([index[k] for k in keys]), names, priv)


def model_decisions(model, inputs: AuditInputs, *, features=None, text=None) -> tuple[np.ndarray, np.ndarray]:
    """(decisions, favorable-class scores) of a classifier adapter on the audited rows."""
    frame = inputs.frame
    if text is not None:
        if text not in frame.columns:
            raise UserError(f"data has no text column '{text}'")
        batch = [str(t) for t in frame[text]]
    else:
        if features:
            absent = [c for c in features if c not in frame.columns]
            if absent:
                raise UserError(f"data has no feature column {', '.join(absent)}")
            batch = frame[list(features)]
        else:
            batch = frame.drop(columns=[inputs.label])
        if not hasattr(model, "estimator") and not hasattr(model, "frame"):
            batch = batch.to_numpy(dtype=float)  # torch and other array models take numeric rows
    probs = np.asarray(model.classify(batch), dtype=float)
    labels = [normalise(v) for v in model.labels]
    if inputs.favorable not in labels:
        raise UserError(f"favorable label '{inputs.favorable}' is not one of the model's labels {labels}; "
                        "pass --favorable with one of them")
    fav = labels.index(inputs.favorable)
    decisions = (probs.argmax(axis=1) == fav).astype(float)
    return decisions, probs[:, fav]
