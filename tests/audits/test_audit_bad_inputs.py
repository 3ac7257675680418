"""Every bad input to `evalsuite audit` and the audit tasks: one line naming the problem, exit 2, no traceback,
nothing written. Column roles (the label also a protected attribute, a column named twice) are checked before
the model loads, like option types and bounds."""

from __future__ import annotations

from pathlib import Path

import pytest

from evalsuite.cli import main


@pytest.fixture(scope="module")
def table(tmp_path_factory, planted_table) -> Path:
    folder = tmp_path_factory.mktemp("audit_bad_inputs")
    planted_table[0].assign(pred=1).to_csv(folder / "data.csv", index=False)
    return folder / "data.csv"


AUDIT = [
    ("label-is-protected", ["--protected", "hired,sex"], "the label column 'hired' is also named as a protected"),
    ("protected-twice", ["--protected", "sex,sex"], "'sex' is listed more than once"),
    ("missing-column", ["--protected", "gender"], "no column 'gender'"),
    ("missing-feature", ["--features", "experience,height"], "no column 'height'"),
    ("label-as-feature", ["--features", "hired"], "also listed as a feature"),
    ("privileged-malformed", ["--privileged", "sex"], "is not COLUMN=VALUE"),
    ("privileged-not-protected", ["--protected", "sex", "--privileged", "race=a"], "not a protected attribute"),
    ("min-group-size", ["--min-group-size", "0"], "min_group_size must be >= 1"),
    ("threshold-target", ["--threshold-target", "accuracy"], "threshold_target must be one of selection_rate, tpr"),
    ("mitigation", ["--mitigate", "magic"], "unknown mitigation magic"),
    ("train-without-mitigation", ["--train-data", "{data}"], "only used by mitigations"),
    ("bootstrap", ["--bootstrap", "0"], "--bootstrap-resamples must be"),
    ("seed", ["--seed", "-1"], "--seed must be"),
    ("missing-data", ["--data", "{dir}/nope.csv"], "nope.csv"),
    ("predictions-column", ["--predictions", "decision"], "no column 'decision'"),
    ("model-and-predictions", ["--model", "demo", "--predictions", "pred"], "exactly one of --model SPEC or --predictions COLUMN"),
    ("output-dir-is-a-file", ["--output-dir", "{dir}/plain.txt"], "--output-dir"),
    ("model-args-typo", ["--model-args", "colum=pred"], "Did you mean 'column'"),
]


@pytest.mark.parametrize("change, fragment", [a[1:] for a in AUDIT], ids=[a[0] for a in AUDIT])
def test_bad_audit_input_is_one_line_exit_2_nothing_written(table, tmp_path, capsys, change, fragment):
    (tmp_path / "plain.txt").write_text("not a folder")
    flags = {"--predictions": "pred", "--data": str(table), "--label": "hired", "--protected": "sex,race",
             "--output-dir": str(tmp_path / "results")}
    argv = ["audit", *(a.replace("{data}", str(table)).replace("{dir}", str(tmp_path)) for a in change)]
    for flag, value in flags.items():
        if flag not in argv and not (flag == "--predictions" and "--model" in argv):
            argv += [flag, value]
    code = main([*argv, "--quiet"])
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("evalsuite: error: "), err
    assert fragment in lines[0] and "Traceback" not in err, lines[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plain.txt"]


TASKS = [
    ("fairness-typo", "fairness_audit", "data={data},label=hired,protectd=sex", "Did you mean 'protected'"),
    ("fairness-type", "fairness_audit", "data={data},label=hired,protected=sex,min_group_size=many",
     "min_group_size must be a whole number"),
    ("fairness-label-protected", "fairness_audit", "data={data},label=sex,protected=sex|race",
     "also named as a protected attribute"),
    ("fairness-missing", "fairness_audit", "label=hired", "needs option data"),
    ("seat-unknown-test", "seat_builtin", "tests=no_such_test", "unknown SEAT test no_such_test"),
    ("seat-ddof", "seat_builtin", "ddof=2", "ddof must be one of 0, 1"),
    ("seat-permutations", "seat_builtin", "permutations=0", "permutations must be >= 1"),
    ("counterfactual-data", "counterfactual_gender", "data={dir}/none.yaml", "does not exist"),
    ("crows-missing-path", "crows_pairs_csv", "", "needs option path"),
    ("bbq-typo", "bbq_jsonl", "pth=x", "Did you mean 'path'"),
]


@pytest.mark.parametrize("task, args, fragment", [t[1:] for t in TASKS], ids=[t[0] for t in TASKS])
def test_bad_audit_task_option_is_one_line_exit_2_nothing_written(table, tmp_path, tiny_lm, capsys, task, args,
                                                                  fragment):
    argv = ["run", "--model", str(tiny_lm), "--tasks", task, "--output-dir", str(tmp_path / "results"), "--quiet"]
    if args:
        argv += ["--task-args", args.replace("{data}", str(table)).replace("{dir}", str(tmp_path))]
    code = main(argv)
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and fragment in lines[0] and "Traceback" not in err, err
    assert not (tmp_path / "results").exists()
