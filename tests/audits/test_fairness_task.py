"""`fairness_audit` through `evalsuite run` gives the record `evalsuite audit` gives for the same inputs."""

from __future__ import annotations

import json

from evalsuite.cli import main


def _metrics(out, pattern):
    [path] = list(out.glob(f"runs/*/{pattern}/record.json"))
    return json.loads(path.read_text())["metrics"]


def test_run_task_matches_the_audit_command(planted_table, tmp_path, capsys):
    import joblib

    frame, model = planted_table
    frame.to_csv(tmp_path / "data.csv", index=False)
    joblib.dump(model, tmp_path / "m.joblib")
    spec = f"sklearn:{tmp_path / 'm.joblib'}"
    assert main(["audit", "--model", spec, "--model-args", "allow_pickle=true", "--data", str(tmp_path / "data.csv"),
                 "--label", "hired", "--protected", "sex,race", "--privileged", "sex=1", "--seed", "7", "--quiet",
                 "--output-dir", str(tmp_path / "a")]) == 0
    assert main(["run", "--model", spec, "--model-args", "allow_pickle=true", "--tasks", "fairness_audit", "--seed",
                 "7", "--quiet", "--task-args",
                 f"data={tmp_path / 'data.csv'},label=hired,protected=sex|race,privileged=sex=1",
                 "--output-dir", str(tmp_path / "r")]) == 0
    # One record name for both: the command is a preset over the task.
    by_command, by_task = _metrics(tmp_path / "a", "evalsuite_fairness_audit"), \
        _metrics(tmp_path / "r", "evalsuite_fairness_audit")
    assert by_task.keys() == by_command.keys() and "sex*race.statistical_parity_difference" in by_task
    for name, entry in by_command.items():
        assert (by_task[name]["value"], by_task[name]["ci"]) == (entry["value"], entry["ci"]), name
    assert by_task["statistical_parity_difference"]["ci"][1] < 0  # the planted disparity is found


def test_missing_options_fail_before_the_model_loads(tmp_path, capsys):
    code = main(["run", "--model", "sklearn:/nonexistent.joblib", "--tasks", "fairness_audit", "--quiet",
                 "--task-args", "label=hired", "--output-dir", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert code == 2 and "needs option data" in err and "needs option protected" in err
    assert not (tmp_path / "r").exists()
