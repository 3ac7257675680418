"""Bias audits and attribution explanations (installed as `evalsuite.audits`); filled in by the audits issues."""
