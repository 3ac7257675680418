"""The registry: namespacing, duplicates refused, validation that names the plugin."""

from __future__ import annotations

import types

import pytest

from evalsuite.errors import PluginError, UserError
from evalsuite.registry import Registry, metric, task


def _module(name: str, **objects) -> types.ModuleType:
    module = types.ModuleType(name)
    for key, obj in objects.items():
        obj.__module__ = name
        setattr(module, key, obj)
    return module


def _registry() -> Registry:
    reg = Registry()
    reg._loaded_entry_points = True  # only what the test registers
    return reg


def test_names_are_namespaced_and_short_names_resolve_when_unique():
    reg = _registry()
    reg.register_module("alpha", _module("m1", f=task("qa")(lambda: None)))
    reg.register_module("beta", _module("m2", g=task("other")(lambda: None)))
    assert reg.get("task", "qa").name == "alpha/qa"
    assert reg.get("task", "beta/other").plugin == "beta"


def test_same_short_name_in_two_plugins_is_ambiguous_but_full_names_work():
    reg = _registry()
    reg.register_module("alpha", _module("m1", f=task("qa")(lambda: None)))
    reg.register_module("beta", _module("m2", f=task("qa")(lambda: None)))
    with pytest.raises(UserError, match="ambiguous"):
        reg.get("task", "qa")
    assert reg.get("task", "beta/qa").plugin == "beta"


def test_duplicates_are_refused_and_name_the_plugin():
    reg = _registry()
    reg.register_module("alpha", _module("m1", f=task("qa")(lambda: None)))
    with pytest.raises(PluginError, match="plugin 'alpha'.*already registered"):
        reg.register_module("alpha", _module("m3", f=task("qa")(lambda: None)))


def test_validation_collects_every_problem_at_once():
    reg = _registry()
    bad = _module("m4", a=task("Bad Name")(lambda: None), b=task("needs_args")(lambda x, /: None),
                  c=metric("fine")(lambda columns: 0))
    with pytest.raises(PluginError) as info:
        reg.register_module("gamma", bad)
    message = str(info.value)
    assert message.startswith("plugin 'gamma' is invalid")
    # options are passed by keyword: a required keyword option is fine, a positional-only parameter is not
    assert "'Bad Name'" in message and "needs_args" in message and "positional-only parameters (x)" in message
    assert reg.entries() == []  # nothing of an invalid plugin is registered


def test_unknown_names_get_suggestions():
    reg = _registry()
    reg.register_module("alpha", _module("m1", f=task("reading_mc")(lambda: None)))
    with pytest.raises(UserError, match="Did you mean 'alpha/reading_mc'"):
        reg.get("task", "readin_mc")


def test_first_party_plugin_registers_through_the_entry_point():
    reg = Registry()
    names = {e.name for e in reg.entries()}
    assert {"evalsuite/demo_facts_mc", "evalsuite/hf", "evalsuite/demo", "evalsuite/mean"} <= names


def test_loading_a_tasks_path_twice_returns_the_same_entries(tmp_path):
    from evalsuite.registry import Registry

    (tmp_path / "mine.py").write_text(
        "from evalsuite import task, perplexity\n\n@task('twice')\ndef twice():\n"
        "    return perplexity([{'t': 'a b'}], text='t')\n")
    registry = Registry()
    first = registry.load_path(tmp_path)
    again = registry.load_path(tmp_path)
    assert [e.name for e in first] == ["local/twice"] and again == first
