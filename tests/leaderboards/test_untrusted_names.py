"""Names are data: model, task, metric and rule names holding control characters, ANSI escapes, newlines and
markup leave the JUnit XML well-formed, the Markdown one row per rule, and the terminal free of escapes.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET

from lb_records import entry, record_spec, write_run

from evalsuite.cli import main
from evalsuite.text import terminal_safe, xml_safe

HOSTILE = "x\x1b[31m\x1b]0;pwn\x07\r\n<b>&amp;]]></b>\x00\x0b|*[l](u)`"  # (records cannot hold lone surrogates)
XML_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def test_text_helpers():
    assert terminal_safe("a\x1b[2Jb\r\n\x9bc\td") == "a\\x1b[2Jb\\r\\n\\x9bc\td"
    assert xml_safe("a\x00b\x1bc\ud800d\ne\tf<") == "a\ufffdb\ufffdc\ufffdd\ne\tf<"


def test_gate_reports_stay_well_formed_whatever_the_names(tmp_path, capsys):
    results = tmp_path / "results"
    task, metric = "task" + HOSTILE, "acc" + HOSTILE
    run = write_run(results, "model" + HOSTILE, {task: record_spec({metric: entry(0.7, "higher", (0.6, 0.8))})})
    policy = tmp_path / "policy.yaml"
    # JSON is YAML: its \u escapes carry every character into the policy
    rules = [{"name": "floor" + HOSTILE, "type": "threshold", "task": task, "metric": metric, "min": 0.5},
             {"name": "missing" + HOSTILE, "type": "threshold", "task": "nope\x1b[2J", "metric": "acc", "min": 0.5}]
    policy.write_text(json.dumps({"name": "gate" + HOSTILE, "rules": rules}))
    junit, md = tmp_path / "gate.xml", tmp_path / "gate.md"
    capsys.readouterr()
    code = main(["gate", "--results", str(results), "--policy", str(policy), "--candidate", run,
                 "--junit", str(junit), "--markdown", str(md)])
    out = capsys.readouterr().out
    assert code == 1  # the second rule's task does not exist

    xml_text = junit.read_text(encoding="utf-8")
    assert not XML_FORBIDDEN.search(xml_text)
    root = ET.fromstring(xml_text.encode("utf-8"))  # well-formed
    cases = list(root.iter("testcase"))
    assert len(cases) == 2 and cases[0].get("name").startswith("floorx\ufffd[31m")
    assert "<b>&amp;]]></b>" in cases[0].get("name")  # markup survives as text, escaped by the writer
    assert cases[1].find("failure") is not None and "nope" in cases[1].find("failure").get("message")

    summary = md.read_text(encoding="utf-8")
    rows = [line for line in summary.splitlines() if line.startswith("| ") and "---" not in line]
    assert len(rows) == 3  # header + one row per rule: no newline or pipe broke out of a cell
    assert "\x1b" not in summary and "\r" not in summary and "<b>" not in summary and "\x00" not in summary
    assert all(re.sub(r"\\.", "", line).count("|") == 5 for line in rows)  # four cells each, escapes aside
    assert "\\\\x1b" in summary  # ESC shown as a visible, escaped \x1b

    assert "\x1b" not in out and "\r" not in out and "\x07" not in out
    assert len(out.splitlines()) == 3  # two rule lines + the summary line: no forged lines
    assert "\\x1b[31m" in out and "\\r\\n" in out


def test_lm_eval_export_to_a_terminal_escapes_c1_controls(tmp_path, capsys):
    run = write_run(tmp_path, "m\x9b2J", {"t\x1b": record_spec({"acc\x85": entry(0.5)})})
    capsys.readouterr()
    assert main(["export", "--format", "lm-eval", "--results", str(tmp_path), "--run", run]) == 0
    out = capsys.readouterr().out
    assert not re.search("[\x00-\x08\x0b-\x1f\x7f-\x9f]", out)
    data = json.loads(out)
    assert data["config"]["model_args"] == "model=m\x9b2J" and "acc\x85,none" in data["results"]["t\x1b"]
