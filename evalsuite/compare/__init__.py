"""`evalsuite compare`: a model and its variants on the same tasks, side by side.

Each variant runs through the same `run()` as `evalsuite run --variant V` (request cache
off, so every figure is work actually done), and writes its own records. The report
reads those records only: task metrics with CIs, each difference from the base with a
paired test, per-subgroup decision flips, energy per sample (measured or estimated,
labelled), latency, peak memory and size on disk; a terminal table, an HTML page and
SVG charts (accuracy against energy, energy per variant).

`evalsuite.compare.report.build_report` is the comparison from Python; nothing is imported
here, so registering the command at start-up stays light.
"""
