"""Perturbations: a plugin kind that rewrites the prompt text of a task's documents.

`--perturb typo:0.05,lowercase,gender-swap` names registered perturbations; `name:value` sets
the perturbation's one option (typo's rate). A perturbation is a factory marked
`@perturbation("name")` whose keyword options are declared like a task's, returning a
`Perturbation`:

    @perturbation("shout")
    def shout(*, rate: Annotated[float, Option("share of words", min=0, max=1)] = 0.5) -> Perturbation:
        return MyShout(rate)

Two kinds. `robustness` perturbations (typos, casing, ...) keep the meaning, so the gold
answer holds. `fairness` perturbations are counterfactual swaps with two sides (female and
male words or names): each document is evaluated once written all on one side and once on the
other. Perturbations rewrite the prompt (request contexts, prompts, few-shot examples included),
never the answer choices or targets; a document where a perturbation would change a word that
occurs in an answer is left as it is for that perturbation ("not applied"). Changing the answer
together with the input (equivariance) is out of scope. docs/robustness.md has the details.
"""

from __future__ import annotations

import hashlib
import random
import re
from dataclasses import dataclass, field

KINDS = ("robustness", "fairness")
_WORD = re.compile(r"[^\W\d_]+")


def words(text: str) -> set[str]:
    """The lower-cased words (runs of letters) of a text."""
    return set(_WORD.findall(text.lower()))


class Perturbation:
    """What a perturbation factory returns. `apply` returns the rewritten text, or None when the rewrite would
    change a protected word (a word of the document's answers), so the document is left unperturbed."""

    kind: str = "robustness"
    sides: tuple[str, ...] = ()  # fairness: the two sides of the swap, e.g. ("female", "male")

    def apply(self, text: str, rng: random.Random, protected: frozenset[str], side: str | None = None) -> str | None:
        raise NotImplementedError


@dataclass(frozen=True)
class Arm:
    """One perturbed evaluation: a perturbation (and, for a swap, one side), labelled for metric names."""

    label: str  # "typo" or "gender-swap:female"
    name: str  # the perturbation's registered name (plugin/name)
    spec: str  # as given: "typo:0.05"
    options: dict = field(default_factory=dict)
    perturbation: Perturbation = field(default=None, compare=False)
    side: str | None = None

    @property
    def kind(self) -> str:
        return self.perturbation.kind

    @property
    def group(self) -> str:
        """The perturbation's label without the side."""
        return self.label.split(":", 1)[0]

    def rewrite(self, text: str, protected: frozenset[str], seed: int) -> str | None:
        """Deterministic for (seed, arm, text): the same text is rewritten the same way wherever it occurs."""
        digest = hashlib.sha256(f"{seed}\0{self.spec}\0{self.side}\0{text}".encode()).digest()
        return self.perturbation.apply(text, random.Random(int.from_bytes(digest[:8], "big")), protected, self.side)

    def to_json(self) -> dict:
        return {"label": self.label, "name": self.name, "spec": self.spec, "options": self.options,
                "kind": self.kind, "side": self.side}


def split_specs(values) -> list[str]:
    """`["typo:0.05,lowercase", "gender-swap"]` -> ["typo:0.05", "lowercase", "gender-swap"]."""
    items = [values] if isinstance(values, str) else list(values or [])
    return [part.strip() for item in items for part in str(item).split(",") if part.strip()]


def resolve(values, problems: list[str]) -> list[Arm]:
    """The arms of `--perturb` values; every problem (unknown name, bad value, duplicate) goes to `problems`."""
    from evalsuite.errors import suggest
    from evalsuite.options import declared_options
    from evalsuite.registry import REGISTRY

    arms, seen = [], set()
    known = [e.short_name for e in REGISTRY.entries("perturbation")]
    for spec in split_specs(values):
        name, colon, value = spec.partition(":")
        name = name.strip()
        entry = REGISTRY.find("perturbation", name)
        if entry is None:
            problems.append(f"--perturb: unknown perturbation '{name}'.{suggest(name, known)} Known: "
                            f"{', '.join(known)} (see: evalsuite list perturbations)")
            continue
        if entry.name in seen:
            problems.append(f"--perturb names '{name}' more than once; give each perturbation once")
            continue
        seen.add(entry.name)
        specs = {n: s for n, s in declared_options(entry.obj).items() if not s.meta.internal}
        options = {n: s.default for n, s in specs.items()}
        if colon:
            if len(specs) != 1:
                problems.append(f"--perturb {spec}: '{entry.short_name}' takes no value; write '{entry.short_name}'"
                                if not specs else f"--perturb {spec}: '{entry.short_name}' has several options")
                continue
            option = next(iter(specs.values()))
            try:
                options[option.name] = option.parse(value.strip())
            except ValueError as exc:
                problems.append(f"--perturb {spec}: {option.name} {exc}; e.g. {entry.short_name}:{option.default}")
                continue
        made = entry.obj(**options)
        if not isinstance(made, Perturbation) or made.kind not in KINDS or (made.kind == "fairness"
                                                                             and len(made.sides) != 2):
            from evalsuite.errors import PluginError

            raise PluginError(f"perturbation '{entry.name}' must return a Perturbation of kind robustness or "
                              "fairness (a fairness one with two sides); this is a bug in its plugin")
        label = entry.short_name
        if made.kind == "fairness":
            arms += [Arm(f"{label}:{side}", entry.name, spec, options, made, side) for side in made.sides]
        else:
            arms.append(Arm(label, entry.name, spec, options, made))
    return arms
