"""Perturbations: deterministic for a seed, never touching an answer (property test over the shipped data),
the shipped word lists well formed, swaps read both ways, third-party perturbations registering like any
plugin, and bad `--perturb` input as one line with exit 2."""

from __future__ import annotations

import random
import types

import pytest

from evalsuite import perturb as P
from evalsuite.cli import main
from evalsuite.perturb import Perturbation, resolve, words
from evalsuite.perturb.evaluate import rewrite_requests
from evalsuite.perturb.swaps import read_pairs, swap
from evalsuite.registry import REGISTRY, perturbation
from evalsuite.requests import Generate, Loglikelihood

ALL = "typo:0.3,lowercase,uppercase,contraction,whitespace,punctuation:0.8,gender-swap,name-swap"
SHIPPED_TASKS = ("demo_facts_mc", "demo_story_mc", "demo_facts_gen")


def arms(spec: str = ALL):
    problems = []
    found = resolve([spec], problems)
    assert not problems
    return found


@pytest.fixture(scope="module")
def shipped():
    """(task spec, docs) of the shipped demo benchmarks."""
    out = []
    for name in SHIPPED_TASKS:
        spec = REGISTRY.get("task", name).obj()
        out.append((spec, list(spec.docs)))
    return out


def test_every_builtin_is_registered_with_its_kind():
    labels = [a.label for a in arms()]
    assert labels == ["typo", "lowercase", "uppercase", "contraction", "whitespace", "punctuation",
                      "gender-swap:female", "gender-swap:male", "name-swap:female", "name-swap:male"]
    assert {a.kind for a in arms() if ":" in a.label} == {"fairness"}
    assert arms("typo")[0].options == {"rate": 0.05} and arms("typo:0.2")[0].options == {"rate": 0.2}


def test_rewrites_are_deterministic_for_a_seed_and_move_with_it(shipped):
    texts = [spec.requests(doc)[0].context if hasattr(spec.requests(doc)[0], "context")
             else spec.requests(doc)[0].prompt for spec, docs in shipped for doc in docs[:20]]
    for arm in arms("typo:0.3,whitespace,punctuation:0.8"):
        first = [arm.rewrite(t, frozenset(), 7) for t in texts]
        assert first == [arm.rewrite(t, frozenset(), 7) for t in texts]
        assert first != [arm.rewrite(t, frozenset(), 8) for t in texts], arm.label
        assert sum(a != t for a, t in zip(first, texts)) > len(texts) // 2, arm.label


def test_no_perturbation_changes_an_answer_of_the_shipped_data(shipped):
    """Property: over every shipped document and every built-in perturbation, the answers (choices,
    continuations, targets) and the gold index stay as they were, and no protected word is rewritten."""
    for spec, docs in shipped:
        for arm in arms():
            for doc in docs:
                reqs = spec.requests(doc)
                protected = frozenset(w for t in spec.answer_texts(doc) for w in words(t))
                new, status = rewrite_requests(reqs, arm, protected, seed=3)
                assert status in ("changed", "unchanged", "skipped")
                assert len(new) == len(reqs)
                for before, after in zip(reqs, new):
                    assert type(before) is type(after)
                    if isinstance(before, Loglikelihood):
                        assert after.continuation == before.continuation
                    else:
                        assert (after.until, after.max_new_tokens) == (before.until, before.max_new_tokens)
                    if arm.kind == "robustness" and arm.label not in ("lowercase", "uppercase"):
                        text_before = before.context if isinstance(before, Loglikelihood) else before.prompt
                        text_after = after.context if isinstance(after, Loglikelihood) else after.prompt
                        kept = {w for w in protected if w in words(text_before)}
                        assert kept <= words(text_after), (arm.label, kept - words(text_after))
                if status == "skipped":
                    assert new == reqs


def test_a_swap_that_would_change_an_answer_is_not_applied():
    arm = next(a for a in arms("gender-swap") if a.side == "male")
    doc = [Loglikelihood("Q: Who wrote the letter, she or her brother?\nA:", " she"),
           Loglikelihood("Q: Who wrote the letter, she or her brother?\nA:", " her brother")]
    protected = frozenset(words(" she") | words(" her brother"))
    new, status = rewrite_requests(doc, arm, protected, seed=0)
    assert status == "skipped" and new == doc
    new, status = rewrite_requests([Generate("She met her aunt.", ("\n",), 8)], arm, frozenset({"paris"}), seed=0)
    assert status == "changed" and new[0].prompt == "He met his uncle."


@pytest.mark.parametrize("side,text,expected", [
    ("male", "She gave her book to her mother, and the book is hers.",
     "He gave his book to his father, and the book is his."),
    ("male", "They thanked her and her sisters.", "They thanked him and his brothers."),
    ("female", "HE told his son that the prize was his.", "SHE told her daughter that the prize was hers."),
    ("female", "Mr Smith and his wife met John.", "Mrs Smith and her wife met John."),  # one side: all female
])
def test_gender_swap_examples(side, text, expected):
    assert swap(text, ("pronouns.tsv", "gendered_words.tsv"), side, frozenset()) == expected


def test_name_swap_reads_both_ways():
    lists = ("first_names.tsv",)
    assert swap("Mary met John and Priya.", lists, "male", frozenset()) == "John met John and Rahul."
    assert swap("Mary met John and Priya.", lists, "female", frozenset()) == "Mary met Mary and Priya."
    assert swap("Nobody here.", lists, "female", frozenset()) == "Nobody here."


@pytest.mark.parametrize("file", ["pronouns.tsv", "gendered_words.tsv", "first_names.tsv"])
def test_shipped_word_lists_are_well_formed(file):
    pairs = read_pairs(file)
    assert len(pairs) >= 5
    female, male = {f for f, _ in pairs}, {m for _, m in pairs}
    assert all(w.isalpha() and w == w.lower() for pair in pairs for w in pair)
    assert not (female & male), female & male  # no word on both sides
    if file != "pronouns.tsv":  # pronouns have her/his ambiguity, resolved by context
        assert len(female) == len(male) == len(pairs)


def test_contraction_keeps_case_and_protected_words():
    arm = arms("contraction")[0]
    assert arm.rewrite("I am sure it is not. Do not go.", frozenset(), 0) == "I'm sure it's not. Don't go."
    assert arm.rewrite("Do not go.", frozenset({"not"}), 0) == "Do not go."


def test_third_party_perturbations_register_like_any_plugin():
    class Reverse(Perturbation):
        def apply(self, text, rng, protected, side=None):
            return " ".join(reversed(text.split(" ")))

    module = types.ModuleType("thirdparty_perturb")

    @perturbation("reverse-words", description="words in reverse order")
    def reverse_words() -> Perturbation:
        return Reverse()

    reverse_words.__module__ = module.__name__
    module.reverse_words = reverse_words
    REGISTRY.register_module("thirdparty", module)
    found = arms("reverse-words,lowercase")
    assert found[0].name == "thirdparty/reverse-words"
    assert found[0].rewrite("a b c", frozenset(), 0) == "c b a"

    @perturbation("broken")
    def broken() -> str:
        return "not a perturbation"

    broken.__module__ = "thirdparty_broken"
    bad = types.ModuleType("thirdparty_broken")
    bad.broken = broken
    REGISTRY.register_module("thirdparty2", bad)
    from evalsuite.errors import PluginError

    with pytest.raises(PluginError, match="thirdparty2/broken"):
        resolve(["broken"], [])


BAD = [
    ("unknown", "tyop", ["unknown perturbation 'tyop'", "Did you mean", "typo", "lowercase", "gender-swap"]),
    ("rate-high", "typo:2", ["--perturb typo:2: rate must be <= 1", "typo:0.05"]),
    ("rate-text", "typo:lots", ["rate must be a number", "typo:0.05"]),
    ("rate-zero", "typo:0", ["rate must be > 0"]),
    ("value-not-taken", "lowercase:1", ["'lowercase' takes no value"]),
    ("twice", "typo,typo:0.1", ["more than once"]),
]


@pytest.mark.parametrize("case", BAD, ids=[c[0] for c in BAD])
def test_bad_perturb_input_is_one_line_exit_2(case, tmp_path, capsys):
    _, value, fragments = case
    code = main(["run", "--model", "demo", "--tasks", "demo_facts_mc", "--output-dir", str(tmp_path / "out"),
                 "--quiet", "--perturb", value])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "Traceback" not in err
    for fragment in fragments:
        assert fragment in err
    assert not (tmp_path / "out").exists()


def test_unknown_option_is_refused(tmp_path, capsys):
    code = main(["run", "--model", "demo", "--tasks", "demo_facts_mc", "--output-dir", str(tmp_path),
                 "--perturbb", "typo"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "unrecognized arguments: --perturbb" in err and len(err.splitlines()) == 1


def test_list_perturbations(capsys):
    assert main(["list", "perturbations"]) == 0
    out = capsys.readouterr().out
    for name in ("typo", "lowercase", "uppercase", "contraction", "whitespace", "punctuation", "gender-swap",
                 "name-swap"):
        assert f"evalsuite/{name}" in out


def test_split_specs_accepts_lists_and_commas():
    assert P.split_specs(["typo:0.1,lowercase", " gender-swap "]) == ["typo:0.1", "lowercase", "gender-swap"]
    assert P.split_specs("a,,b") == ["a", "b"]
    assert random.Random(1).random() == random.Random(1).random()


def test_describe_shows_a_perturbations_option(capsys):
    assert main(["describe", "typo"]) == 0
    out = capsys.readouterr().out
    assert "rate (number, default 0.05, > 0, <= 1)" in out and "--perturb typo:VALUE" in out
