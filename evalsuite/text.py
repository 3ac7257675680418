"""Text from models, tasks and data made safe to print or to put in XML.

A model or metric name is data, not markup: ANSI escapes could clear the screen and a
newline could forge a line in `evalsuite show --list`, so terminal output escapes every
control character; XML output drops the characters XML 1.0 forbids.
"""

from __future__ import annotations

import re

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\n]")
# XML 1.0 Char excludes C0 controls other than tab, LF and CR, lone surrogates (which cannot even be
# encoded as UTF-8) and U+FFFE/U+FFFF.
_XML_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def terminal_safe(text: object) -> str:
    """`text` with control characters (ESC, CR, LF, ...) shown as escapes like \\x1b and \\n."""
    def escape(match: re.Match) -> str:
        char = match.group()
        return {"\n": "\\n", "\r": "\\r", "\t": "\\t"}.get(char, f"\\x{ord(char):02x}")

    return _CONTROL.sub(escape, str(text))


def xml_safe(text: object) -> str:
    """`text` without the characters XML 1.0 cannot hold (escaping <, & stays the XML writer's job)."""
    return _XML_FORBIDDEN.sub("\ufffd", str(text))
