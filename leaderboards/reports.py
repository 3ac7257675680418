"""Gate reports for a CI job page: JUnit XML (one testcase per rule) and a Markdown summary."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from evalsuite.leaderboards.gate import GateReport


def junit_xml(report: GateReport) -> str:
    """JUnit XML as CI systems read it: a failed rule is a <failure> with the rule's reason."""
    failures = sum(not r.passed for r in report.results)
    suites = ET.Element("testsuites", name="evalsuite gate", tests=str(len(report.results)), failures=str(failures))
    suite = ET.SubElement(suites, "testsuite", name=report.policy, tests=str(len(report.results)),
                          failures=str(failures), errors="0", skipped="0")
    props = ET.SubElement(suite, "properties")
    ET.SubElement(props, "property", name="candidate", value=", ".join(report.candidate))
    ET.SubElement(props, "property", name="baseline", value=", ".join(report.baseline))
    for result in report.results:
        case = ET.SubElement(suite, "testcase", classname=f"evalsuite.gate.{result.type}", name=result.name)
        if result.passed:
            ET.SubElement(case, "system-out").text = result.reason
        else:
            failure = ET.SubElement(case, "failure", message=result.reason, type=f"gate.{result.type}")
            failure.text = result.reason
    ET.indent(suites)
    # ElementTree escapes text and attributes; characters XML 1.0 cannot hold are dropped by the caller's data.
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"


def _cell(text: str) -> str:
    """A Markdown table cell: pipes escaped, line breaks flattened, HTML neutralised."""
    return (str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("|", "\\|")
            .replace("\r", " ").replace("\n", " "))


def markdown_summary(report: GateReport) -> str:
    status = "PASSED" if report.passed else "FAILED"
    failed = sum(not r.passed for r in report.results)
    lines = [f"## Release gate `{_cell(report.policy)}`: {status}", "",
             f"Candidate: {_cell(', '.join(report.candidate)) or 'n/a'}  ",
             f"Baseline: {_cell(', '.join(report.baseline)) or 'none'}  ",
             f"{len(report.results) - failed} of {len(report.results)} rules passed.", "",
             "| Rule | Type | Result | Reason |", "| --- | --- | --- | --- |"]
    for r in report.results:
        lines.append(f"| {_cell(r.name)} | {r.type} | {'pass' if r.passed else '**FAIL**'} | {_cell(r.reason)} |")
    return "\n".join(lines) + "\n"
