"""pytest plugin: the release gate as tests, so a release pipeline can simply run pytest.

    pytest -p evalsuite.leaderboards.pytest_plugin --evalsuite-policy gate.yaml \\
           --evalsuite-candidate RUN [--evalsuite-baseline RUN] [--evalsuite-results DIR]

collects one test item per policy rule (it fails with the rule's reason).
Tests of your own can use the fixtures:

- `evalsuite_gate`: the evaluated GateReport (.passed, .results, .result(name));
- `evalsuite_rule`: the RuleResult named by the test's marker
  `@pytest.mark.evalsuite_gate(rule="NAME")`.

The plugin is inert without --evalsuite-policy: nothing is collected, and the
fixtures fail with a message naming the options. This module imports no
pytest at top level (the plugin registry imports every module of this package
for `evalsuite list`, where pytest need not be installed); the pytest-facing
part lives in evalsuite.leaderboards._pytest_gate and is registered on
configure.
"""

from __future__ import annotations


def pytest_addoption(parser) -> None:
    group = parser.getgroup("evalsuite", "evalsuite release gates")
    group.addoption("--evalsuite-policy", help="gate policy YAML; each rule becomes a test")
    group.addoption("--evalsuite-candidate", action="append", default=[],
                    help="candidate run id, prefix, 'latest' or model:NAME (repeatable)")
    group.addoption("--evalsuite-baseline", action="append", default=[],
                    help="baseline run for regression rules (repeatable)")
    group.addoption("--evalsuite-results", default="evalsuite-results", help="results folder holding index.sqlite")
    group.addoption("--evalsuite-seed", type=int, default=0, help="seed of the paired bootstrap")


def pytest_configure(config) -> None:
    from evalsuite.leaderboards import _pytest_gate

    config.addinivalue_line("markers", "evalsuite_gate(rule): the test checks the named rule of the evalsuite "
                                       "gate policy (use the evalsuite_rule fixture)")
    if not config.pluginmanager.is_registered(_pytest_gate):
        config.pluginmanager.register(_pytest_gate, "evalsuite-gate-impl")
