"""Gate reports for a CI job page: JUnit XML (one testcase per rule) and a Markdown summary.

Names and reasons carry data (model, task and metric names) that may hold anything: control characters,
ANSI escapes, newlines, markup. The XML keeps only characters XML 1.0 allows (ElementTree escapes <, &
and >, so `]]>` cannot end anything); the Markdown shows control characters as visible escapes and
backslash-escapes the characters that would start markup (links, emphasis, code, HTML, table cells).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from evalsuite.leaderboards.gate import GateReport
from evalsuite.text import terminal_safe, xml_safe


def junit_xml(report: GateReport) -> str:
    """JUnit XML as CI systems read it: a failed rule is a <failure> with the rule's reason."""
    x = xml_safe
    failures = sum(not r.passed for r in report.results)
    suites = ET.Element("testsuites", name="evalsuite gate", tests=str(len(report.results)), failures=str(failures))
    suite = ET.SubElement(suites, "testsuite", name=x(report.policy), tests=str(len(report.results)),
                          failures=str(failures), errors="0", skipped="0")
    props = ET.SubElement(suite, "properties")
    ET.SubElement(props, "property", name="candidate", value=x(", ".join(report.candidate)))
    ET.SubElement(props, "property", name="baseline", value=x(", ".join(report.baseline)))
    for result in report.results:
        case = ET.SubElement(suite, "testcase", classname=f"evalsuite.gate.{x(result.type)}", name=x(result.name))
        if result.passed:
            ET.SubElement(case, "system-out").text = x(result.reason)
        else:
            failure = ET.SubElement(case, "failure", message=x(result.reason), type=f"gate.{x(result.type)}")
            failure.text = x(result.reason)
    ET.indent(suites)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"


_MARKUP = re.compile(r"([\\`*_\[\]<>|~#!])")


def _cell(text) -> str:
    """Inline Markdown text: control characters as visible escapes, markup characters backslash-escaped.

    `&` becomes &amp; so no entity (e.g. &lt;) is decoded into markup.
    """
    return _MARKUP.sub(r"\\\1", terminal_safe(str(text)).replace("&", "&amp;"))


def markdown_summary(report: GateReport) -> str:
    status = "PASSED" if report.passed else "FAILED"
    failed = sum(not r.passed for r in report.results)
    lines = [f"## Release gate {_cell(report.policy)}: {status}", "",
             f"Candidate: {_cell(', '.join(report.candidate)) or 'n/a'}  ",
             f"Baseline: {_cell(', '.join(report.baseline)) or 'none'}  ",
             f"{len(report.results) - failed} of {len(report.results)} rules passed.", "",
             "| Rule | Type | Result | Reason |", "| --- | --- | --- | --- |"]
    for r in report.results:
        lines.append(f"| {_cell(r.name)} | {_cell(r.type)} | {'pass' if r.passed else '**FAIL**'} | "
                     f"{_cell(r.reason)} |")
    return "\n".join(lines) + "\n"
