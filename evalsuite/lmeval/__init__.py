"""lm-eval integration: its tasks run on evalsuite's engine through its `LM` interface."""
