"""The pytest-facing half of evalsuite.leaderboards.pytest_plugin: rule items and fixtures.

Kept apart (and underscored, so `evalsuite list` never imports it) because it
imports pytest at top level for its decorators and node classes.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from evalsuite.errors import UserError

_REPORT = pytest.StashKey[object]()


def _options(config) -> dict:
    return {"policy": config.getoption("evalsuite_policy"), "candidate": config.getoption("evalsuite_candidate"),
            "baseline": config.getoption("evalsuite_baseline"), "results": config.getoption("evalsuite_results"),
            "seed": config.getoption("evalsuite_seed")}


def gate_report(config):
    """Evaluate the policy once per session; a UserError (bad policy, unknown run) is re-raised each time."""
    if _REPORT not in config.stash:
        config.stash[_REPORT] = _evaluate(config)
    outcome = config.stash[_REPORT]
    if isinstance(outcome, UserError):
        raise outcome
    return outcome


def _evaluate(config):
    from evalsuite.leaderboards.gate import evaluate_policy
    from evalsuite.leaderboards.policy import load_policy
    from evalsuite.leaderboards.results import open_store, select_records

    from evalsuite.config import MAX_SEED

    opts = _options(config)
    try:
        if not opts["policy"] or not opts["candidate"]:
            raise UserError("the evalsuite gate needs --evalsuite-policy FILE and --evalsuite-candidate RUN")
        if not 0 <= opts["seed"] <= MAX_SEED:
            raise UserError(f"--evalsuite-seed must be from 0 to {MAX_SEED:,}, got {opts['seed']:,}")
        policy = load_policy(opts["policy"])
        if policy.needs_baseline and not opts["baseline"]:
            raise UserError(f"policy '{opts['policy']}' has regression rules; pass --evalsuite-baseline RUN")
        store = open_store(opts["results"])
        try:
            candidate = select_records(store, opts["candidate"])
            baseline = select_records(store, opts["baseline"]) if opts["baseline"] else None
            return evaluate_policy(policy, candidate, baseline, candidate_refs=opts["candidate"],
                                   baseline_refs=opts["baseline"], seed=opts["seed"])
        finally:
            store.close()
    except UserError as error:
        return error


class GateRuleFailed(AssertionError):
    """A gate rule did not pass; the message is its reason."""


class GatePolicy(pytest.File):
    """The policy file as a collector: one item per rule."""

    def collect(self):
        from evalsuite.leaderboards.policy import load_policy

        for rule in load_policy(self.path).rules:
            yield GateRuleItem.from_parent(self, name=rule.name, rule_type=rule.type)

    def repr_failure(self, excinfo):
        if isinstance(excinfo.value, UserError):
            return f"evalsuite gate: {excinfo.value}"
        return super().repr_failure(excinfo)


class GateRuleItem(pytest.Item):
    def __init__(self, *, rule_type: str, **kwargs):
        super().__init__(**kwargs)
        self.rule_type = rule_type
        self.add_marker(pytest.mark.evalsuite_gate(rule=self.name))

    def runtest(self) -> None:
        result = gate_report(self.config).result(self.name)
        if not result.passed:
            raise GateRuleFailed(result.reason)

    def repr_failure(self, excinfo, style=None):
        if isinstance(excinfo.value, GateRuleFailed | UserError):
            return f"{self.rule_type} rule '{self.name}' failed: {excinfo.value}"
        return super().repr_failure(excinfo)

    def reportinfo(self):
        return self.path, None, f"evalsuite gate rule: {self.name}"


def pytest_collection_modifyitems(session, config, items) -> None:
    """With --evalsuite-policy, the policy's rules join whatever else was collected."""
    policy = config.getoption("evalsuite_policy")
    if not policy:
        return
    if not Path(policy).is_file():
        raise pytest.UsageError(f"--evalsuite-policy '{policy}' does not exist")
    collector = GatePolicy.from_parent(session, path=Path(policy).resolve())
    report = collector.ihook.pytest_make_collect_report(collector=collector)
    if report.failed:
        raise pytest.UsageError(str(report.longrepr))
    items.extend(report.result)


@pytest.fixture(scope="session")
def evalsuite_gate(pytestconfig):
    """The evaluated gate report for --evalsuite-policy / --evalsuite-candidate / --evalsuite-baseline."""
    try:
        return gate_report(pytestconfig)
    except UserError as error:
        message = f"evalsuite gate: {error}"
    pytest.fail(message, pytrace=False)  # outside the except block: one line, no chained traceback


@pytest.fixture
def evalsuite_rule(request, evalsuite_gate):
    """The result of the rule named by the test's @pytest.mark.evalsuite_gate(rule=NAME) marker."""
    marker = request.node.get_closest_marker("evalsuite_gate")
    name = (marker.kwargs.get("rule") or (marker.args[0] if marker.args else None)) if marker else None
    if not name:
        pytest.fail("evalsuite_rule needs @pytest.mark.evalsuite_gate(rule='RULE NAME') on the test", pytrace=False)
    try:
        return evalsuite_gate.result(name)
    except KeyError as error:
        message = str(error.args[0])
    pytest.fail(message, pytrace=False)
