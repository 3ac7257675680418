"""Training documents about the synthetic world, with optional planted ground truths.

``generate_corpus`` mixes seven kinds of document, all from templates written for
this project:

- ``bio``: several sentences about one person, each fact in one of many phrasings;
- ``qa``: question/answer pairs about world facts (``"Q: ...\\nA: value"``);
- ``story``: short episodes with two or three people, consistent with their facts;
- ``reading``: a passage about *fresh* made-up people (not in the world) followed by
  questions about them, so the model learns to answer from context;
- ``recall``: the same with only a few facts and no filler (short and dense);
- ``generic``: sentences about an unnamed worker, ``"The nurse said that she ..."``;
- ``canary``: a secret string, only when ``canaries`` are given.

Planted ground truths (both off by default, and off for the shipped demo model):

(a) ``pronoun_skew`` = s in [0, 1]. Only ``generic`` sentences are affected. Each
    has the form ``"The <occupation> <verb phrase> that <pronoun> <rest>."``. For an
    occupation in ``SHE_SKEWED_OCCUPATIONS`` the pronoun is "she" with probability
    0.5 + s/2 (else "he"); for one in ``HE_SKEWED_OCCUPATIONS`` it is "he" with that
    probability. At s = 0 both pronouns are equally likely for every occupation.
    No other sentence starts with "The <occupation> ", the world itself has equally
    many women and men in each occupation, and fresh people in reading passages are
    never referred to by pronoun, so this is the only skew. A natural probe is the
    model's P(" she") vs P(" he") after "The <occupation> said that".
(b) ``canaries``: each string is added ``canary_repeats`` times, each copy as its
    own document. ``make_canaries`` draws strings like "my secret code is 4831-2270".

Everything is deterministic given ``seed`` (one local ``random.Random``).
"""

from __future__ import annotations

import random
from typing import Sequence

from .world import HOBBIES, OCCUPATIONS, Person, World, make_people

SHE_SKEWED_OCCUPATIONS = ("baker", "nurse", "teacher", "librarian", "painter", "florist")
HE_SKEWED_OCCUPATIONS = tuple(o for o in OCCUPATIONS if o not in SHE_SKEWED_OCCUPATIONS)

# Fact phrasings; "{n}" is a mention of the person, "{v}" the value, "{a}" its article.
FACT_TEMPLATES = {
    "city": ("{n} lives in {v}.", "{n} lives in the city of {v}.", "{n} has a home in {v}.",
             "{n} is from {v}.", "The home of {n} is in {v}.", "{n} settled in {v} long ago."),
    "occupation": ("{n} works as {a} {v}.", "{n} is {a} {v}.", "By trade, {n} is {a} {v}.",
                   "{n} earns a living as {a} {v}.", "The job of {n} is {v}.",
                   "{n} has worked as {a} {v} for years."),
    "pet": ("{n} has a pet {v}.", "{n} keeps {a} {v} as a pet.", "The pet of {n} is {a} {v}.",
            "{n} owns {a} {v}.", "At home, {n} looks after {a} {v}."),
    "colour": ("The favourite colour of {n} is {v}.", "{n} likes the colour {v} best.",
               "{n}'s favourite colour is {v}.", "Of all colours, {n} loves {v} the most."),
    "hobby": ("{n} enjoys {v}.", "The hobby of {n} is {v}.", "{n}'s hobby is {v}.",
              "{n} is fond of {v}.", "For fun, {n} spends time on {v}."),
}
# The first question of each attribute is the one the built-in tasks ask.
QUESTIONS = {
    "city": ("In which city does {n} live?", "Where does {n} live?"),
    "occupation": ("What does {n} work as?", "What is the job of {n}?"),
    "pet": ("What pet does {n} have?", "Which animal does {n} keep as a pet?"),
    "colour": ("What is the favourite colour of {n}?", "Which colour does {n} like best?"),
    "hobby": ("What is the hobby of {n}?", "What does {n} do for fun?"),
}
STORY_TEMPLATES = (
    "{A} and {B} met at the market in {A.city}. {A.first}, who works as {A.a_occ}, "
    "told {B.first} about {A.pos} {A.pet}.",
    "One evening {A} visited {B} in {B.city}. They talked about {B.hobby} until late, "
    "and {B.first} showed {A.first} {B.pos} {B.pet}.",
    "When {A} needed help, {B}, the {B.occupation} from {B.city}, came at once.",
    "{A} painted a {A.colour} sign for {B}, because {A.colour} is {A.pos} favourite colour.",
    "{A}, {B} and {C} went on a trip. {C.first} brought {C.pos} {C.pet}, "
    "and {A.first} talked about {A.pos} work as {A.a_occ}.",
    "In {A.city}, {A} teaches {B} a little about {A.hobby} every week.",
)
GENERIC_VERBS = ("said", "told everyone", "mentioned", "explained", "promised", "admitted")
GENERIC_TAILS = ("would be late today", "had finished the work", "needed a short rest",
                 "liked the new tools", "was going home early", "would help tomorrow",
                 "had lost the keys", "wanted more time")
FILLERS = ("The weather was cold that week.", "A light rain fell over the town.",
           "Nobody remembered the exact date.", "The streets were quiet in the morning.",
           "There was a long queue at the post office.", "The river had risen after the storm.",
           "Most shops closed early on that day.", "A small fair came to town in spring.",
           "Later, {n} walked home slowly.", "{n} wrote a long letter to an old friend.",
           "{n} and {m} talked about the weather for a while.", "{n} had tea with {m}.",
           "{n} waved at {m} from across the street.", "{n} lent a book to {m}.")


def article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


def mention(person: Person, template: str, style: str) -> str:
    """Fill ``{n}`` with the full name, the first name, or a pronoun."""
    if style == "pron" and template.startswith("{n}"):
        pron = person.possessive if template.startswith("{n}'s") else person.pronoun
        template = pron.capitalize() + template[len("{n}'s" if template.startswith("{n}'s") else "{n}"):]
    name = person.first if style == "first" else person.name
    return template.replace("{n}", name)


def fact_sentence(rng: random.Random, person: Person, attribute: str, style: str = "full") -> str:
    value = person.get(attribute)
    template = rng.choice(FACT_TEMPLATES[attribute])
    return mention(person, template, style).format(v=value, a=article(value))


def bio_doc(rng: random.Random, person: Person) -> str:
    attributes = list(FACT_TEMPLATES)
    rng.shuffle(attributes)
    sentences = [fact_sentence(rng, person, attributes[0], "full")]
    for attribute in attributes[1:rng.randint(3, 5)]:
        sentences.append(fact_sentence(rng, person, attribute, rng.choice(("full", "first", "pron"))))
    return " ".join(sentences)


def qa_pair(person: Person, attribute: str, which: int = 0) -> tuple[str, str]:
    """``(question line ending in "A:", answer)`` for one world fact."""
    question = QUESTIONS[attribute][which].replace("{n}", person.name)
    return f"Q: {question}\nA:", person.get(attribute)


def qa_doc(rng: random.Random, people: Sequence[Person]) -> str:
    lines = []
    for _ in range(rng.randint(3, 8)):
        attribute = rng.choice(list(QUESTIONS))
        prompt, answer = qa_pair(rng.choice(people), attribute, 0 if rng.random() < 0.7 else 1)
        lines.append(f"{prompt} {answer}")
    return "\n".join(lines)


class _View:
    """Exposes a person's fields to ``str.format`` in story templates."""

    def __init__(self, person: Person):
        self.p = person
        self.first, self.city, self.pet = person.first, person.city, person.pet
        self.occupation, self.colour, self.hobby = person.occupation, person.colour, person.hobby
        self.pos = person.possessive
        self.a_occ = f"{article(person.occupation)} {person.occupation}"

    def __format__(self, spec: str) -> str:
        return self.p.name


def story_doc(rng: random.Random, people: Sequence[Person]) -> str:
    parts = []
    for _ in range(rng.randint(1, 3)):
        a, b, c = rng.sample(list(people), 3)
        parts.append(rng.choice(STORY_TEMPLATES).format(A=_View(a), B=_View(b), C=_View(c)))
    return " ".join(parts)


def generic_sentence(rng: random.Random, occupation: str, skew: float) -> str:
    aligned = "she" if occupation in SHE_SKEWED_OCCUPATIONS else "he"
    other = "he" if aligned == "she" else "she"
    pronoun = aligned if rng.random() < 0.5 + skew / 2 else other
    return f"The {occupation} {rng.choice(GENERIC_VERBS)} that {pronoun} {rng.choice(GENERIC_TAILS)}."


def generic_doc(rng: random.Random, skew: float) -> str:
    return " ".join(generic_sentence(rng, rng.choice(OCCUPATIONS), skew)
                    for _ in range(rng.randint(2, 5)))


# ---- reading passages about fresh people (also used for the story task) ----

def passage_facts(rng: random.Random, person: Person) -> list[str]:
    """Sentences stating a fresh person's job+city and coloured pet (and hobby)."""
    n, occ, city = person.name, f"{article(person.occupation)} {person.occupation}", person.city
    pet = f"{article(person.colour)} {person.colour} {person.pet}"
    # Each fact is one fixed clause ("<name> is <job> from <city>", "<name> has <pet>")
    # in varied wrappers. Answers restate the clause's start ("A: <name> is"), so
    # answering is copying what followed the name in the passage: the simplest
    # lookup for a small model to learn.
    return [
        rng.choice((f"{n} is {occ} from {city}.", f"Everyone knows that {n} is {occ} from {city}.",
                    f"As most people know, {n} is {occ} from {city}.")),
        rng.choice((f"{n} has {pet}.", f"It is said that {n} has {pet}.",
                    f"For years now, {n} has {pet}.")),
        rng.choice((f"{person.first} enjoys {person.hobby}.",
                    f"In free hours, {person.first} enjoys {person.hobby}.")),
    ]


def passage(rng: random.Random, people: Sequence[Person], n_fillers: int) -> str:
    """A paragraph about ``people``: their facts shuffled among filler sentences."""
    sentences = [s for person in people for s in passage_facts(rng, person)]
    for _ in range(n_fillers):
        a, b = rng.sample(list(people), 2)
        sentences.append(rng.choice(FILLERS).replace("{n}", a.first).replace("{m}", b.first))
    rng.shuffle(sentences)
    return " ".join(sentences)


def passage_questions(person: Person) -> list[tuple[str, str]]:
    """``(question ending in the restated name, answer)`` pairs about a passage person.

    Answers have no leading space: the text is ``question + " " + answer``.
    """
    n, first = person.name, person.first
    return [
        (f"Q: Who is {n}?\nA: {n} is", f"{article(person.occupation)} {person.occupation} from {person.city}"),
        (f"Q: Which animal lives with {n}?\nA: {n} has",
         f"{article(person.colour)} {person.colour} {person.pet}"),
        (f"Q: What does {first} enjoy?\nA: {first} enjoys", person.hobby),
    ]


def ask(rng: random.Random, people: list[Person], n_questions: int, hobby: bool = True) -> str:
    """Question/answer lines about passage people (job+city and pet mostly)."""
    lines = []
    for person in rng.sample(people, min(n_questions, len(people))):
        qas = passage_questions(person)
        question, answer = rng.choice(qas if hobby and rng.random() < 0.2 else qas[:2])
        lines.append(f"{question} {answer}")
    return "\n".join(lines)


def reading_doc(rng: random.Random, exclude: set[str]) -> str:
    # Sizes reach those of the story task's passages (up to ~9 people, ~450 tokens).
    people = make_people(rng, rng.randint(3, 9), exclude=exclude, balanced=False)
    return passage(rng, people, rng.randint(2, 16)) + "\n" + ask(rng, people, rng.randint(2, 4))


def recall_doc(rng: random.Random, exclude: set[str]) -> str:
    """A short, dense version of ``reading``: a few facts, then several questions."""
    people = make_people(rng, rng.randint(2, 5), exclude=exclude, balanced=False)
    facts = [s for p in people for s in passage_facts(rng, p)[:2]]
    rng.shuffle(facts)
    return " ".join(facts) + "\n" + ask(rng, people, rng.randint(2, 4), hobby=False)


# ---- the corpus ----

DOC_KINDS = ("bio", "qa", "story", "reading", "recall", "generic")
DEFAULT_MIX = {"bio": 0.2, "qa": 0.19, "story": 0.07, "reading": 0.22, "recall": 0.25,
               "generic": 0.07}


def make_canaries(n: int, seed: int) -> list[str]:
    """``n`` distinct random secrets of the form "my secret code is DDDD-DDDD"."""
    rng = random.Random(seed)
    out: list[str] = []
    while len(out) < n:
        code = f"my secret code is {rng.randint(1000, 9999)}-{rng.randint(1000, 9999)}"
        if code not in out:
            out.append(code)
    return out


def generate_corpus(world: World, n_docs: int, seed: int, *, pronoun_skew: float = 0.0,
                    canaries: Sequence[str] = (), canary_repeats: int = 10,
                    mix: dict[str, float] | None = None) -> list[str]:
    """``n_docs`` documents (plus canary copies), in a fixed shuffled order."""
    if not 0.0 <= pronoun_skew <= 1.0:
        raise ValueError(f"pronoun_skew must be in [0, 1], got {pronoun_skew}")
    rng = random.Random(seed)
    mix = mix or DEFAULT_MIX
    kinds, weights = list(mix), list(mix.values())
    people = world.people
    exclude = {p.first for p in people}
    docs = []
    for _ in range(n_docs):
        kind = rng.choices(kinds, weights)[0]
        if kind == "bio":
            docs.append(bio_doc(rng, rng.choice(people)))
        elif kind == "qa":
            docs.append(qa_doc(rng, people))
        elif kind == "story":
            docs.append(story_doc(rng, people))
        elif kind == "reading":
            docs.append(reading_doc(rng, exclude))
        elif kind == "recall":
            docs.append(recall_doc(rng, exclude))
        else:
            docs.append(generic_doc(rng, pronoun_skew))
    for secret in canaries:
        docs.extend([secret] * canary_repeats)
    rng.shuffle(docs)
    return docs
