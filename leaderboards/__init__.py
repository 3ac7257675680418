"""Aggregation, release gates and the static leaderboard (installed as `evalsuite.leaderboards`); filled in by the leaderboard issue."""
