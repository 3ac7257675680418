"""A seeded synthetic world of invented people, the ground truth for the demo model.

Everything here is made up: names are assembled from syllables, cities are invented
words, and the other attributes are generic nouns. The same seed always gives the
same world, because all randomness comes from one local ``random.Random(seed)``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

# Syllables chosen to give pronounceable but non-existent names.
FIRST_SYLLABLES = ("ta", "vo", "mi", "ra", "ke", "lo", "si", "da", "ne", "ju",
                   "be", "ro", "fa", "zu", "ye", "po", "ga", "li", "ho", "we")
MIDDLE_SYLLABLES = ("ren", "vik", "lan", "mos", "tel", "dar", "bin", "sul",
                    "gor", "pim", "nax", "rel", "tov", "quin", "sab", "wen")
LAST_STARTS = ("Mer", "Tol", "Brask", "Vel", "Dorn", "Hask", "Quen", "Ulm",
               "Prant", "Sorv", "Kell", "Farr", "Grom", "Lisk", "Nabb", "Yarr")
LAST_ENDS = ("rin", "vane", "by", "ock", "ett", "mere", "wick", "ston",
             "dal", "ish", "ow", "ard", "ling", "sey", "um", "ott")

# Invented place names (no real city is meant).
CITIES = ("Lunport", "Dravik", "Essenmoor", "Karrowby", "Velmarsh",
          "Quillhaven", "Ostrend", "Brindlewick")
OCCUPATIONS = ("baker", "nurse", "engineer", "farmer", "teacher", "pilot",
               "carpenter", "librarian", "painter", "doctor", "mechanic", "florist")
PETS = ("dog", "cat", "parrot", "rabbit", "turtle", "goldfish", "hamster", "pony")
COLOURS = ("red", "blue", "green", "yellow", "purple", "orange", "silver", "brown")
HOBBIES = ("chess", "sailing", "gardening", "fishing", "singing", "cycling",
           "knitting", "climbing")

# The attributes every person has; the tasks ask about these.
ATTRIBUTES = ("city", "occupation", "pet", "colour", "hobby")
ATTRIBUTE_VALUES = {"city": CITIES, "occupation": OCCUPATIONS, "pet": PETS,
                    "colour": COLOURS, "hobby": HOBBIES}


@dataclass(frozen=True)
class Person:
    first: str
    last: str
    gender: str  # "f" or "m"; only decides the pronoun used in text
    city: str
    occupation: str
    pet: str
    colour: str
    hobby: str

    @property
    def name(self) -> str:
        return f"{self.first} {self.last}"

    @property
    def pronoun(self) -> str:
        return "she" if self.gender == "f" else "he"

    @property
    def possessive(self) -> str:
        return "her" if self.gender == "f" else "his"

    @property
    def objective(self) -> str:
        return "her" if self.gender == "f" else "him"

    def get(self, attribute: str) -> str:
        return getattr(self, attribute)


@dataclass(frozen=True)
class World:
    seed: int
    people: tuple[Person, ...]
    cities: tuple[str, ...] = CITIES
    occupations: tuple[str, ...] = OCCUPATIONS
    values: dict[str, tuple[str, ...]] = field(default_factory=lambda: dict(ATTRIBUTE_VALUES))

    def by_name(self, name: str) -> Person:
        for person in self.people:
            if person.name == name:
                return person
        raise KeyError(name)


def make_name(rng: random.Random) -> tuple[str, str]:
    """One invented first and last name drawn from the syllable tables."""
    first = rng.choice(FIRST_SYLLABLES) + rng.choice(MIDDLE_SYLLABLES)
    if rng.random() < 0.3:
        first += rng.choice(("a", "o", "i", "e"))
    last = rng.choice(LAST_STARTS) + rng.choice(LAST_ENDS)
    return first.capitalize(), last


def make_people(rng: random.Random, n: int, exclude: set[str] = frozenset(),
                balanced: bool = True) -> list[Person]:
    """``n`` people with random attributes and unique first names.

    ``exclude`` holds first names already taken (e.g. by the training world), so
    made-up people in reading passages never share a first name with it.
    ``balanced=False`` draws gender and occupation at random (for small groups).
    """
    people: list[Person] = []
    # Unique first names, so a first name alone never refers to two people.
    seen = set(exclude)
    while len(people) < n:
        first, last = make_name(rng)
        if first in seen:
            continue
        seen.add(first)
        i = len(people)
        # Occupations cycle in (f, m) pairs, so every occupation has as many women
        # as men (exactly, when n is a multiple of 24): any occupation-pronoun
        # association is planted by the corpus, never by the world itself.
        if balanced:
            gender, occupation = "fm"[i % 2], OCCUPATIONS[(i // 2) % len(OCCUPATIONS)]
        else:
            gender, occupation = rng.choice("fm"), rng.choice(OCCUPATIONS)
        people.append(Person(
            first=first, last=last, gender=gender,
            city=rng.choice(CITIES), occupation=occupation,
            pet=rng.choice(PETS), colour=rng.choice(COLOURS), hobby=rng.choice(HOBBIES)))
    rng.shuffle(people)
    return people


def build_world(seed: int, n_people: int = 72) -> World:
    """The deterministic world for ``seed`` with ``n_people`` invented people."""
    rng = random.Random(seed)
    return World(seed=seed, people=tuple(make_people(rng, n_people)))
