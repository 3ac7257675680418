"""evalsuite's own perturbations, registered as `perturbation` plugins like any third-party one.

Robustness (meaning kept): typo, lowercase, uppercase, contraction, whitespace, punctuation.
Counterfactual fairness (two sides, female and male): gender-swap (pronouns and gendered
words), name-swap (first names). Every rewrite is deterministic for its random generator, which
the caller seeds from the run seed and the text (evalsuite.perturb.Arm.rewrite).
"""

from __future__ import annotations

import re
from typing import Annotated

from evalsuite.options import Option
from evalsuite.perturb import Perturbation
from evalsuite.perturb.swaps import swap
from evalsuite.registry import perturbation

_LETTERS = re.compile(r"[^\W\d_]{2,}")
_KEYBOARD = ("qwertyuiop", "asdfghjkl", "zxcvbnm")


def _neighbours(ch: str) -> str:
    low = ch.lower()
    for row in _KEYBOARD:
        i = row.find(low)
        if i >= 0:
            near = row[max(0, i - 1):i] + row[i + 1:i + 2]
            return near.upper() if ch.isupper() else near
    return ch


class Typo(Perturbation):
    """Each word of two or more letters gets, with probability `rate`, one typo: a swap of two neighbouring
    letters, a dropped letter, a doubled letter or a letter replaced by a keyboard neighbour."""

    def __init__(self, rate: float):
        self.rate = rate

    def apply(self, text, rng, protected, side=None):
        def one(match):
            word = match.group(0)
            if word.lower() in protected or rng.random() >= self.rate:
                return word
            i, how = rng.randrange(len(word) - 1), rng.randrange(4)
            if how == 0:
                return word[:i] + word[i + 1] + word[i] + word[i + 2:]
            if how == 1:
                return word[:i] + word[i + 1:]
            if how == 2:
                return word[:i] + word[i] + word[i:]
            return word[:i] + rng.choice(_neighbours(word[i])) + word[i + 1:]

        return _LETTERS.sub(one, text)


class Case(Perturbation):
    def __init__(self, upper: bool):
        self.upper = upper

    def apply(self, text, rng, protected, side=None):
        return text.upper() if self.upper else text.lower()


# Written for evalsuite: expanded form -> contraction (matched on whole words, any case).
CONTRACTIONS = {"do not": "don't", "does not": "doesn't", "did not": "didn't", "is not": "isn't",
                "are not": "aren't", "was not": "wasn't", "were not": "weren't", "have not": "haven't",
                "has not": "hasn't", "had not": "hadn't", "will not": "won't", "would not": "wouldn't",
                "can not": "can't", "cannot": "can't", "could not": "couldn't", "should not": "shouldn't",
                "must not": "mustn't", "i am": "I'm", "you are": "you're", "we are": "we're", "they are": "they're",
                "it is": "it's", "that is": "that's", "there is": "there's", "what is": "what's", "he is": "he's",
                "she is": "she's", "i have": "I've", "you have": "you've", "we have": "we've",
                "they have": "they've", "i will": "I'll", "you will": "you'll", "we will": "we'll",
                "they will": "they'll", "let us": "let's"}
_CONTRACT = re.compile(r"\b(" + "|".join(sorted((re.escape(k).replace(r"\ ", r"\s+") for k in CONTRACTIONS),
                                                key=len, reverse=True)) + r")\b", re.IGNORECASE)


class Contraction(Perturbation):
    """Expanded forms become contractions ("do not" -> "don't"), keeping the first letter's case."""

    def apply(self, text, rng, protected, side=None):
        def one(match):
            found = match.group(0)
            key = " ".join(found.lower().split())
            if set(key.split()) & protected:
                return found
            short = CONTRACTIONS[key]
            return short[:1].upper() + short[1:] if found[:1].isupper() else short

        return _CONTRACT.sub(one, text)


class Whitespace(Perturbation):
    """Every run of spaces between words becomes 1 to `max_spaces` spaces (line breaks kept)."""

    def __init__(self, max_spaces: int):
        self.max_spaces = max_spaces

    def apply(self, text, rng, protected, side=None):
        return re.sub(r"(?<=\S) +(?=\S)", lambda m: " " * rng.randint(1, self.max_spaces), text)


class Punctuation(Perturbation):
    """Each comma, full stop, semicolon, exclamation or question mark that ends a word is dropped with
    probability `rate` (colons are kept: prompt formats such as "A:" rely on them)."""

    def __init__(self, rate: float):
        self.rate = rate

    def apply(self, text, rng, protected, side=None):
        return re.sub(r"(?<=\w)[,.;!?](?=\s|$)", lambda m: "" if rng.random() < self.rate else m.group(0), text)


class Swap(Perturbation):
    kind = "fairness"
    sides = ("female", "male")

    def __init__(self, lists: tuple[str, ...]):
        self.lists = lists

    def apply(self, text, rng, protected, side=None):
        return swap(text, self.lists, side, protected)


_RATE = Option("probability of changing each word", min=0, max=1, min_exclusive=True)


@perturbation("typo", description="a typo (swap, drop, double, keyboard neighbour) in each word with probability RATE")
def typo(*, rate: Annotated[float, _RATE] = 0.05) -> Perturbation:
    return Typo(rate)


@perturbation("lowercase", description="the whole prompt in lower case")
def lowercase() -> Perturbation:
    return Case(upper=False)


@perturbation("uppercase", description="the whole prompt in upper case")
def uppercase() -> Perturbation:
    return Case(upper=True)


@perturbation("contraction", description="expanded forms written as contractions (do not -> don't)")
def contraction() -> Perturbation:
    return Contraction()


@perturbation("whitespace", description="each space between words becomes 1 to MAX_SPACES spaces")
def whitespace(*, max_spaces: Annotated[int, Option("most spaces in a row", min=1, max=10)] = 3) -> Perturbation:
    return Whitespace(max_spaces)


@perturbation("punctuation", description="sentence punctuation (, . ; ! ?) dropped with probability RATE")
def punctuation(*, rate: Annotated[float, Option("probability of dropping each mark", min=0, max=1,
                                                 min_exclusive=True)] = 0.5) -> Perturbation:
    return Punctuation(rate)


@perturbation("gender-swap", description="counterfactual: pronouns and gendered words all female / all male")
def gender_swap() -> Perturbation:
    return Swap(("pronouns.tsv", "gendered_words.tsv"))


@perturbation("name-swap", description="counterfactual: first names all female / all male (paired lists)")
def name_swap() -> Perturbation:
    return Swap(("first_names.tsv",))
