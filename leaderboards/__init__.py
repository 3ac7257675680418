"""Leaderboards, release gates and exports over the results store (installed as `evalsuite.leaderboards`).

See docs/leaderboards.md; modules are light to import (the plugin registry loads them all).
"""
