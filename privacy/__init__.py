"""Differentially private fine-tuning and privacy audits (installed as `evalsuite.privacy`); filled in by the privacy issue."""
