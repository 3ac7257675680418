"""Counterfactual swaps from the word lists shipped next to this module (written for evalsuite).

`pronouns.tsv`, `gendered_words.tsv` and `first_names.tsv` hold tab-separated (female, male)
pairs. Side "female" rewrites every male word of the text as its female pair, side "male" the
reverse, so each document can be read once all on one side and once on the other. Case follows
the original word (She -> He, SHE -> HE). Two words have two possible pairs, resolved by the
next word: female "her" becomes "his" before a noun-like word and "him" otherwise ("gave her the
book" -> "gave him the book", "her book" -> "his book"); male "his" becomes "her" before a word
and "hers" otherwise. The lists are small and English only: a word not on them is left alone.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

HERE = Path(__file__).parent
_TOKEN = re.compile(r"[^\W\d_]+")
# After "her", these words mean "her" was an object pronoun ("him"), not a determiner ("his").
_AFTER_OBJECT = frozenset("""a an the to and or but that this these those some any in on at with for from about up
out back again as if so than then when while because into onto over by of off down away too very""".split())


def read_pairs(file: str) -> list[tuple[str, str]]:
    pairs = []
    for line in (HERE / file).read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            female, male = line.split("\t")[:2]
            pairs.append((female.strip().lower(), male.strip().lower()))
    return pairs


@lru_cache(maxsize=None)
def table(lists: tuple[str, ...], side: str) -> dict[str, str]:
    """word -> replacement, writing the text all on `side` ("female" or "male")."""
    out: dict[str, str] = {}
    for file in lists:
        for female, male in read_pairs(file):
            source, target = (male, female) if side == "female" else (female, male)
            out.setdefault(source, target)  # the first pair of an ambiguous word wins; context fixes it below
    return out


def _cased(word: str, like: str) -> str:
    if len(like) > 1 and like.isupper():
        return word.upper()
    return word[:1].upper() + word[1:] if like[:1].isupper() else word


def _next_word(text: str, end: int) -> str | None:
    match = re.match(r"[ \t]*([^\W\d_]+)", text[end:])
    return match.group(1).lower() if match else None


def swap(text: str, lists: tuple[str, ...], side: str, protected: frozenset[str]) -> str | None:
    """`text` written all on `side`; None when a word to swap occurs in the answers (`protected`)."""
    mapping = table(lists, side)
    pieces, at, changed = [], 0, set()
    for match in _TOKEN.finditer(text):
        word = match.group(0)
        key = word.lower()
        if key not in mapping:
            continue
        target = mapping[key]
        after = _next_word(text, match.end())
        if key == "her" and side == "male":
            target = "him" if after is None or after in _AFTER_OBJECT else "his"
        elif key == "his" and side == "female":
            target = "hers" if after is None or after in _AFTER_OBJECT else "her"
        changed.add(key)
        pieces += [text[at:match.start()], _cased(target, word)]
        at = match.end()
    if changed & protected:
        return None
    return "".join(pieces) + text[at:] if changed else text
