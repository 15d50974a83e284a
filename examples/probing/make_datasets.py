#!/usr/bin/env python3
"""Generates the probing example data of this folder (see PROVENANCE.md).

    python examples/probing/make_datasets.py            # rewrites the files next to this script
    python examples/probing/make_datasets.py --out DIR  # writes them into DIR instead

Writes:

- ``linguistic_probing_suite.json``: tasks "pos_tagging" (token), "parsing" (distance) and
  "sentiment" (sentence). The sentences come from a small English grammar whose every template
  knows the Universal POS tag and the UD-style head of each word it emits, so the labels and the
  trees are known by construction (and checked here: one root, no cycles).
- ``concepts.json``: sentence-level tasks "gender", "profession" and "emotion", and a "bias"
  object with counterfactual pairs that swap only the gendered words.
- ``multilingual_test_set.json``: hand-written parallel sentences (en, fr, es, de), kept below as
  a literal list.
- ``sentences_for_comparison.txt``: English sentences, one per line, drawn from the above.

The output is a pure function of this file: every random choice comes from a
``random.Random`` seeded with a fixed string (string seeds do not depend on PYTHONHASHSEED), and
the files are written with a fixed layout (one example per line). Standard library only.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
from pathlib import Path

HERE = Path(__file__).resolve().parent
PROVENANCE = "examples/probing/PROVENANCE.md"

SUITE_FILE = "linguistic_probing_suite.json"
CONCEPTS_FILE = "concepts.json"
MULTILINGUAL_FILE = "multilingual_test_set.json"
COMPARISON_FILE = "sentences_for_comparison.txt"
FILES = (SUITE_FILE, CONCEPTS_FILE, MULTILINGUAL_FILE, COMPARISON_FILE)
PACKAGED_CONCEPTS = HERE.parents[1] / "clients" / "python" / "interpretability" / "data" / "probing_concepts.json"

POS_SENTENCES = 400
SENTIMENT_PER_LABEL = 150
CONCEPT_EXAMPLES = 200
BIAS_PAIRS_PER_PROFESSION = 10
COMPARISON_SENTENCES = 150

# ================================================================================================
# Lexicon of the POS / parsing grammar. Forms marked * in the comments are AMBIGUOUS on purpose:
# the same word form is a NOUN in one template and a VERB (or an ADJ / ADV / ADP / SCONJ / PART)
# in another, so a probe has to use context, not the word type, to tag them.
# ================================================================================================

# People (subjects, human objects). cook*, guide*, judge*, guard*, coach*.
PERSONS = [
    "teacher", "doctor", "farmer", "student", "child", "girl", "boy", "woman", "man", "neighbour",
    "pilot", "nurse", "friend", "sailor", "waiter", "cook", "guide", "judge", "guard", "coach",
    "sister", "brother", "mother", "father",
]  # fmt: skip

# Things: (singular, plural, category). P = physical object, E = event or activity.
# book*, watch*, light*, play*, drink*, paint*, plant*, fish*, answer*, call*, walk*, dance*,
# dream*, film*, record*, iron*, brush*, phone*, water*, train*, run*.
THINGS = [
    ("book", "books", "P"), ("watch", "watches", "P"), ("light", "lights", "P"), ("play", "plays", "E"),
    ("drink", "drinks", "P"), ("paint", "paints", "P"), ("plant", "plants", "P"), ("fish", "fish", "P"),
    ("answer", "answers", "E"), ("call", "calls", "E"), ("walk", "walks", "E"), ("dance", "dances", "E"),
    ("dream", "dreams", "E"), ("film", "films", "E"), ("record", "records", "P"), ("iron", "irons", "P"),
    ("brush", "brushes", "P"), ("phone", "phones", "P"), ("train", "trains", "P"), ("run", "runs", "E"),
    ("water", "water", "P"), ("letter", "letters", "P"), ("ball", "balls", "P"), ("car", "cars", "P"),
    ("bicycle", "bicycles", "P"), ("picture", "pictures", "P"), ("lamp", "lamps", "P"), ("chair", "chairs", "P"),
    ("table", "tables", "P"), ("key", "keys", "P"), ("box", "boxes", "P"), ("bottle", "bottles", "P"),
    ("cup", "cups", "P"), ("coat", "coats", "P"), ("ticket", "tickets", "P"), ("boat", "boats", "P"),
    ("song", "songs", "E"), ("meal", "meals", "E"), ("game", "games", "E"), ("candle", "candles", "P"),
    ("window", "windows", "P"), ("door", "doors", "P"), ("flower", "flowers", "P"), ("tree", "trees", "P"),
    ("shirt", "shirts", "P"), ("coffee", "coffee", "P"),
]  # fmt: skip
THING_PLURAL = {s: p for s, p, _ in THINGS}
THING_CATEGORY = {s: c for s, _, c in THINGS}
# Mass nouns: no "a", no numeral.
MASS = {"water", "coffee"}
COUNTABLE_THINGS = [s for s, _, _ in THINGS if s not in MASS]

# Places (objects of prepositions). park*, shop*.
PLACES = [
    "park", "garden", "kitchen", "station", "river", "market", "library", "school", "beach", "bridge",
    "forest", "village", "hospital", "shop", "street",
]  # fmt: skip

# Transitive verbs: (base, third person singular, past, -ing, objects). Objects: a string of
# categories (P, E, H = a person) or a tuple of nouns.
TRANSITIVE = [
    ("watch", "watches", "watched", "watching", ("film", "play", "dance", "game", "train", "boat")),
    ("book", "books", "booked", "booking", ("ticket", "table", "boat", "car")),
    ("light", "lights", "lit", "lighting", ("lamp", "candle")),
    ("play", "plays", "played", "playing", ("song", "record", "game")),
    ("paint", "paints", "painted", "painting", ("picture", "door", "chair", "boat", "box", "window")),
    ("plant", "plants", "planted", "planting", ("tree", "flower")),
    ("drink", "drinks", "drank", "drinking", ("water", "coffee", "drink")),
    ("call", "calls", "called", "calling", "H"),
    ("visit", "visits", "visited", "visiting", "H"),
    ("answer", "answers", "answered", "answering", ("letter", "call", "phone", "door")),
    ("cook", "cooks", "cooked", "cooking", ("meal", "fish")),
    ("guide", "guides", "guided", "guiding", "H"),
    ("judge", "judges", "judged", "judging", ("dance", "picture", "game", "song")),
    ("guard", "guards", "guarded", "guarding", ("door", "box", "key", "boat", "car")),
    ("film", "films", "filmed", "filming", ("dance", "play", "game", "walk", "run")),
    ("record", "records", "recorded", "recording", ("song", "call", "dance", "play")),
    ("iron", "irons", "ironed", "ironing", ("coat", "shirt")),
    ("brush", "brushes", "brushed", "brushing", ("coat", "shirt", "chair")),
    ("phone", "phones", "phoned", "phoning", "H"),
    ("train", "trains", "trained", "training", "H"),
    ("park", "parks", "parked", "parking", ("car", "bicycle", "boat")),
    ("water", "waters", "watered", "watering", ("plant", "flower", "tree")),
    ("open", "opens", "opened", "opening", ("door", "window", "box", "bottle", "letter", "book")),
    ("clean", "cleans", "cleaned", "cleaning", "P"),
    ("buy", "buys", "bought", "buying", "P"),
    ("find", "finds", "found", "finding", "P"),
    ("wash", "washes", "washed", "washing", "P"),
    ("carry", "carries", "carried", "carrying", "P"),
    ("drop", "drops", "dropped", "dropping", "P"),
    ("sell", "sells", "sold", "selling", "P"),
    ("fix", "fixes", "fixed", "fixing", "P"),
    ("lose", "loses", "lost", "losing", "P"),
    ("bring", "brings", "brought", "bringing", "P"),
    ("break", "breaks", "broke", "breaking", ("cup", "window", "lamp", "watch", "bottle")),
    ("see", "sees", "saw", "seeing", "PEH"),
    ("meet", "meets", "met", "meeting", "H"),
    ("help", "helps", "helped", "helping", "H"),
    ("enjoy", "enjoys", "enjoyed", "enjoying", "E"),
    ("remember", "remembers", "remembered", "remembering", "PEH"),
    ("describe", "describes", "described", "describing", "PE"),
    ("miss", "misses", "missed", "missing", "EH"),
    ("like", "likes", "liked", "liking", "PEH"),
    ("read", "reads", "read", "reading", ("letter", "book", "answer")),
    ("write", "writes", "wrote", "writing", ("letter", "song", "answer", "book")),
    ("draw", "draws", "drew", "drawing", ("picture", "tree", "flower", "boat", "lamp")),
    ("sing", "sings", "sang", "singing", ("song",)),
    ("finish", "finishes", "finished", "finishing", "E"),
    ("kick", "kicks", "kicked", "kicking", ("ball", "door", "box")),
    ("choose", "chooses", "chose", "choosing", "P"),
    ("forget", "forgets", "forgot", "forgetting", "P"),
]  # fmt: skip

# Intransitive verbs of people: walk*, run*, dance*, dream*, smile*, fish*, rest*, work*, shop*.
INTRANSITIVE = [
    ("walk", "walks", "walked", "walking"), ("run", "runs", "ran", "running"),
    ("dance", "dances", "danced", "dancing"), ("dream", "dreams", "dreamed", "dreaming"),
    ("smile", "smiles", "smiled", "smiling"), ("fish", "fishes", "fished", "fishing"),
    ("rest", "rests", "rested", "resting"), ("work", "works", "worked", "working"),
    ("shop", "shops", "shopped", "shopping"), ("talk", "talks", "talked", "talking"),
    ("swim", "swims", "swam", "swimming"), ("travel", "travels", "travelled", "travelling"),
    ("sleep", "sleeps", "slept", "sleeping"), ("wait", "waits", "waited", "waiting"),
    ("sit", "sits", "sat", "sitting"), ("stay", "stays", "stayed", "staying"),
    ("laugh", "laughs", "laughed", "laughing"), ("hurry", "hurries", "hurried", "hurrying"),
    ("cry", "cries", "cried", "crying"), ("arrive", "arrives", "arrived", "arriving"),
]  # fmt: skip

# Intransitive verbs of movement (they take "to", "from", "across", "into", ...).
MOTION_VERBS = {"walk", "run", "dance", "swim", "travel", "hurry"}

# What things do (subordinate clauses): past form -> subjects.
THING_EVENTS = {
    "arrived": ("train", "boat", "letter"),
    "stopped": ("train", "watch", "car"),
    "fell": ("lamp", "chair", "picture", "cup", "bottle"),
    "broke": ("watch", "cup", "lamp", "window", "bottle"),
    "opened": ("door", "window", "box"),
    "ended": ("film", "play", "dance", "game", "walk", "call", "song"),
    "started": ("film", "play", "game", "dance", "run"),
    "rang": ("phone",),
}

assert all(o in THING_PLURAL for v in TRANSITIVE if isinstance(v[4], tuple) for o in v[4])
assert all(s in THING_PLURAL for subjects in THING_EVENTS.values() for s in subjects)

# Verbs taking a to-infinitive (past forms).
CONTROL_VERBS = ["wanted", "decided", "tried", "hoped", "planned", "promised", "needed", "forgot", "learned", "liked"]

# Adjectives. light*, clean*, open*, dry*, warm*, empty*, fast*, hard*, early*, late*.
THING_ADJECTIVES = [
    "old", "new", "small", "big", "large", "red", "blue", "green", "yellow", "black", "white", "clean",
    "dirty", "warm", "cold", "heavy", "light", "empty", "full", "open", "broken", "short", "long",
    "bright", "dark", "cheap", "expensive", "beautiful", "ugly", "strange", "famous", "wet", "dry",
    "fresh", "round", "soft", "hard", "fast", "early", "late", "lovely", "simple", "wooden", "tiny",
]  # fmt: skip
PERSON_ADJECTIVES = [
    "old", "young", "happy", "sad", "tired", "hungry", "kind", "brave", "busy", "famous", "tall",
    "clever", "quiet", "angry", "proud", "polite", "strange", "lovely", "friendly", "careful",
]  # fmt: skip
# Adjectives of places.
PLACE_ADJECTIVES = ["old", "new", "small", "big", "quiet", "busy", "dark", "empty", "famous", "beautiful", "cold", "warm"]
# Adjectives of events (E nouns).
EVENT_ADJECTIVES = ["long", "short", "early", "late", "famous", "strange", "lovely", "simple", "new", "old", "quiet", "fast"]
# People of the possessive template ("my friend", "her coach").
RELATIONS = [
    "friend", "sister", "brother", "mother", "father", "neighbour", "teacher", "doctor", "coach", "nurse", "cook", "guide",
]  # fmt: skip
# Predicate adjectives of the copular template: of physical things, and of events.
PREDICATE_ADJECTIVES = [
    "old", "new", "small", "big", "heavy", "light", "empty", "full", "open", "broken", "cheap",
    "expensive", "beautiful", "strange", "wet", "dry", "clean", "dirty", "warm", "cold", "useful",
    "famous", "lovely", "dark", "bright", "simple",
]  # fmt: skip
EVENT_PREDICATE_ADJECTIVES = ["interesting", "boring", "late", "early", "long", "short", "famous", "lovely", "strange", "fun"]

# Adverbs: manner (fast*, hard*, early*, late*), frequency and degree.
MANNER_ADVERBS = [
    "quickly", "slowly", "carefully", "quietly", "loudly", "happily", "sadly", "gently", "suddenly",
    "easily", "badly", "politely", "proudly", "nervously", "calmly", "eagerly", "bravely", "patiently",
    "softly", "warmly", "neatly", "angrily", "kindly", "secretly", "silently", "cheerfully", "well",
    "fast", "hard", "early", "late", "together", "again", "alone",
]  # fmt: skip
FREQUENCY_ADVERBS = ["often", "sometimes", "usually", "rarely", "always", "seldom"]
# Adverbs that read well between a subject and its verb.
PREVERBAL_ADVERBS = [
    "quickly", "slowly", "carefully", "quietly", "happily", "sadly", "gently", "suddenly", "eagerly",
    "nervously", "calmly", "proudly", "secretly", "silently", "cheerfully", "patiently",
] + FREQUENCY_ADVERBS  # fmt: skip
DEGREE_ADVERBS = ["very", "quite", "rather", "really", "extremely", "too", "so"]

NAMES = [
    "Anna", "Maria", "Tom", "David", "Sarah", "James", "Emma", "Lucas", "Sofia", "Daniel", "Laura",
    "Peter", "Nina", "Oliver", "Clara", "Samuel", "Julia", "Victor", "Helen", "Marco", "Alice",
    "Hugo", "Rosa", "Felix", "Grace", "Leo", "Mia", "Omar", "Lily", "Ivan", "Zoe", "Adam", "Elena",
    "Noah", "Irene", "Jack", "Ruth", "Paul", "Eva", "Simon",
]  # fmt: skip

DETERMINERS = ["the", "the", "the", "a", "a", "this", "that", "every"]
PLURAL_DETERMINERS = ["the", "these", "those", "some", "many", "all"]  # "all the" avoided: "all" alone
SUBJECT_PRONOUNS_PLURAL = ["I", "you", "we", "they"]  # take the base form in the present tense
SUBJECT_PRONOUNS_SINGULAR = ["he", "she"]
SUBJECT_PRONOUNS = ["I", "you", "he", "she", "we", "they"]
OBJECT_PRONOUNS = ["me", "you", "him", "her", "us", "them"]
POSSESSIVES = ["my", "your", "his", "her", "our", "their"]
MODALS = ["will", "can", "should", "must", "might", "could", "would", "may"]
# Where something happens; where a movement goes; when something happens (with an event noun).
PLACE_PREPOSITIONS = ["in", "in", "at", "near", "behind", "beside", "by"]
MOTION_PREPOSITIONS = ["to", "to", "from", "across", "into", "towards", "past"]
TIME_PREPOSITIONS = ["after", "before", "during"]
PLACES_ON = {"beach", "bridge", "river", "street"}  # not "in the beach"
NUMERALS = ["two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "twelve", "twenty"]
SUBORDINATORS = ["when", "because", "after", "before", "while", "although", "once"]


class Tree:
    """A sentence under construction: words, their UPOS tags and their heads (indices of
    other words, or ROOT)."""

    ROOT = -1

    def __init__(self, template: str) -> None:
        self.template = template
        self.words: list[str] = []
        self.tags: list[str] = []
        self.heads: list[int | None] = []

    def add(self, word: str, tag: str) -> int:
        self.words.append(word)
        self.tags.append(tag)
        self.heads.append(None)
        return len(self.words) - 1

    def attach(self, dependent: int, head: int) -> None:
        self.heads[dependent] = head

    def noun_phrase(self, rng: random.Random, noun: str, *, det: str | None = None, adjectives: list[str] | None = None,
                    adjective_rate: float = 0.4, tag: str = "NOUN") -> int:  # fmt: skip
        """Adds [DET] [ADJ] NOUN (determiner and adjective attached to the noun); returns the
        noun's index. ``det=""`` means no determiner."""
        if det is None:
            det = "the" if noun in MASS else rng.choice(DETERMINERS)
        d = self.add(det, "PRON" if det in POSSESSIVES else "DET") if det else None
        a = None
        if adjectives and rng.random() < adjective_rate:
            a = self.add(rng.choice(adjectives), "ADJ")
        n = self.add(noun, tag)
        if d is not None:
            self.attach(d, n)
        if a is not None:
            self.attach(a, n)
        return n

    def prepositional(self, rng: random.Random, head: int, motion: bool = False) -> int:
        """Adds ADP DET [ADJ] NOUN attached to ``head`` (the noun to the head, the preposition to
        the noun, as UD's case): a place, or (one time in four) an event; returns the noun's
        index."""
        if rng.random() < 0.25:
            p = self.add(rng.choice(TIME_PREPOSITIONS), "ADP")
            event = rng.choice([s for s, _, c in THINGS if c == "E"])
            n = self.noun_phrase(rng, event, det="the", adjectives=EVENT_ADJECTIVES, adjective_rate=0.2)
        else:
            place = rng.choice(PLACES)
            if motion:
                preposition = rng.choice(MOTION_PREPOSITIONS)
            elif place in PLACES_ON:
                preposition = rng.choice(["on", "near", "by", "at"])
            else:
                preposition = rng.choice(PLACE_PREPOSITIONS)
            p = self.add(preposition, "ADP")
            n = self.noun_phrase(rng, place, det="the", adjectives=PLACE_ADJECTIVES, adjective_rate=0.2)
        self.attach(p, n)
        self.attach(n, head)
        return n

    def finish(self) -> dict:
        """The example: articles fixed (a/an), first word capitalised, heads 1-based (0 = root),
        the tree checked."""
        words = list(self.words)
        for i, word in enumerate(words[:-1]):
            if word == "a" and words[i + 1][0] in "aeiou":
                words[i] = "an"
        words[0] = words[0][0].upper() + words[0][1:]
        heads = []
        for i, head in enumerate(self.heads):
            assert head is not None, (self.template, words, i)
            heads.append(0 if head == Tree.ROOT else head + 1)
        check_tree(heads, words)
        return {"words": words, "tags": list(self.tags), "heads": heads, "template": self.template, "text": detokenize(words)}


def check_tree(heads: list[int], words: list[str]) -> None:
    """Asserts that 1-based ``heads`` form a tree: exactly one root (head 0), every head in range,
    no word its own ancestor."""
    n = len(heads)
    assert len(words) == n, words
    assert heads.count(0) == 1, (words, heads)
    for i in range(1, n + 1):
        seen = set()
        j = i
        while j != 0:
            assert 1 <= j <= n and j not in seen, (words, heads)
            seen.add(j)
            j = heads[j - 1]


def detokenize(words: list[str]) -> str:
    text = ""
    for word in words:
        if text and word not in {".", "!", "?", ","}:
            text += " "
        text += word
    return text


def adjectives_of(noun: str) -> list[str]:
    """The adjectives that may modify a thing noun."""
    return EVENT_ADJECTIVES if THING_CATEGORY.get(noun) == "E" else THING_ADJECTIVES


def _pick_object(rng: random.Random, objects) -> tuple[str, str]:
    """(noun, kind) for a verb's object spec: kind is "thing", "person" or "pronoun"."""
    if isinstance(objects, tuple):
        return rng.choice(objects), "thing"
    pool: list[tuple[str, str]] = []
    if "P" in objects:
        pool += [(s, "thing") for s, _, c in THINGS if c == "P"]
    if "E" in objects:
        pool += [(s, "thing") for s, _, c in THINGS if c == "E"]
    if "H" in objects:
        pool += [(p, "person") for p in PERSONS] * 2
        pool += [(p, "pronoun") for p in OBJECT_PRONOUNS]
    return rng.choice(pool)


def _object(tree: Tree, rng: random.Random, verb: int, objects) -> int:
    noun, kind = _pick_object(rng, objects)
    if kind == "pronoun":
        o = tree.add(noun, "PRON")
    elif kind == "person":
        o = tree.noun_phrase(rng, noun, adjectives=PERSON_ADJECTIVES, adjective_rate=0.25)
    else:
        o = tree.noun_phrase(rng, noun, adjectives=adjectives_of(noun), adjective_rate=0.35)
    tree.attach(o, verb)
    return o


def _subject(tree: Tree, rng: random.Random, kind: str) -> int:
    """A subject: kind "np" (DET [ADJ] person), "name", "pronoun", or "any"."""
    if kind == "any":
        kind = rng.choice(["np", "np", "name", "pronoun"])
    if kind == "name":
        return tree.add(rng.choice(NAMES), "PROPN")
    if kind == "pronoun":
        return tree.add(rng.choice(SUBJECT_PRONOUNS), "PRON")
    return tree.noun_phrase(rng, rng.choice(PERSONS), adjectives=PERSON_ADJECTIVES, adjective_rate=0.3)


def _transitive(rng: random.Random, ambiguous_first: bool = True):
    """A transitive verb entry, with a bias towards the ambiguous (noun/verb) forms."""
    ambiguous = [v for v in TRANSITIVE if v[0] in THING_PLURAL or v[0] in PLACES or v[0] in PERSONS or v[0] in ("open", "clean")]
    if ambiguous_first and rng.random() < 0.45:
        return rng.choice(ambiguous)
    return rng.choice(TRANSITIVE)


def _intransitive(rng: random.Random):
    ambiguous = [v for v in INTRANSITIVE if v[0] in THING_PLURAL or v[0] in PLACES]
    if rng.random() < 0.5:
        return rng.choice(ambiguous)
    return rng.choice(INTRANSITIVE)


def _end(tree: Tree, root: int, mark: str = ".") -> None:
    tree.attach(tree.add(mark, "PUNCT"), root)


# -- the templates -------------------------------------------------------------------------------


def t_svo_past(rng: random.Random) -> Tree:
    """DET [ADJ] NOUN VERB-past DET [ADJ] NOUN ."""
    t = Tree("svo")
    s = _subject(t, rng, "np")
    verb = _transitive(rng)
    v = t.add(verb[2], "VERB")
    t.attach(v, Tree.ROOT)
    t.attach(s, v)
    _object(t, rng, v, verb[4])
    _end(t, v)
    return t


def t_modal_pp(rng: random.Random) -> Tree:
    """SUBJ AUX VERB [DET NOUN] ADP DET NOUN . (the modal attached to the verb)."""
    t = Tree("modal")
    s = _subject(t, rng, rng.choice(["pronoun", "pronoun", "name", "np"]))
    aux = t.add(rng.choice(MODALS), "AUX")
    intransitive = rng.random() < 0.4
    verb = _intransitive(rng) if intransitive else _transitive(rng)
    v = t.add(verb[0], "VERB")
    t.attach(v, Tree.ROOT)
    t.attach(s, v)
    t.attach(aux, v)
    if not intransitive:
        _object(t, rng, v, verb[4])
    t.prepositional(rng, v, motion=verb[0] in MOTION_VERBS)
    _end(t, v)
    return t


def t_name_adverb(rng: random.Random) -> Tree:
    """PROPN [ADV] VERB-past [ADV] ADP DET NOUN . (an intransitive verb)."""
    t = Tree("intransitive")
    s = _subject(t, rng, rng.choice(["name", "name", "np"]))
    before = rng.random() < 0.4
    adv = t.add(rng.choice(PREVERBAL_ADVERBS), "ADV") if before else None
    verb = _intransitive(rng)
    v = t.add(verb[2], "VERB")
    if not before:
        adv = t.add(rng.choice(MANNER_ADVERBS), "ADV")
    t.attach(v, Tree.ROOT)
    t.attach(s, v)
    t.attach(adv, v)
    t.prepositional(rng, v, motion=verb[0] in MOTION_VERBS)
    _end(t, v)
    return t


def t_coordinated_verbs(rng: random.Random) -> Tree:
    """SUBJ VERB-past OBJ CCONJ VERB-past OBJ . (second verb attached to the first, the
    conjunction to the second)."""
    t = Tree("coordination")
    s = _subject(t, rng, "any")
    first = _transitive(rng)
    v1 = t.add(first[2], "VERB")
    t.attach(v1, Tree.ROOT)
    t.attach(s, v1)
    _object(t, rng, v1, first[4])
    c = t.add(rng.choice(["and", "and", "and", "but", "or"]), "CCONJ")
    second = _transitive(rng)
    while second[0] == first[0]:
        second = _transitive(rng)
    v2 = t.add(second[2], "VERB")
    t.attach(v2, v1)
    t.attach(c, v2)
    _object(t, rng, v2, second[4])
    _end(t, v1)
    return t


def t_plural_present(rng: random.Random) -> Tree:
    """PRON [ADV-frequency] VERB-base ([ADJ] NOUN-plural [ADP DET NOUN] | ADP DET NOUN) ."""
    t = Tree("plural")
    s = t.add(rng.choice(SUBJECT_PRONOUNS_PLURAL), "PRON")
    adv = t.add(rng.choice(FREQUENCY_ADVERBS), "ADV") if rng.random() < 0.6 else None
    if rng.random() < 0.35:  # PRON [ADV] VERB-base ADP DET NOUN .
        verb = _intransitive(rng)
        v = t.add(verb[0], "VERB")
        t.attach(v, Tree.ROOT)
        t.attach(s, v)
        if adv is not None:
            t.attach(adv, v)
        t.prepositional(rng, v, motion=verb[0] in MOTION_VERBS)
        _end(t, v)
        return t
    verb = _transitive(rng)
    while verb[4] == "H":
        verb = _transitive(rng)
    v = t.add(verb[0], "VERB")
    t.attach(v, Tree.ROOT)
    t.attach(s, v)
    if adv is not None:
        t.attach(adv, v)
    noun, _ = _pick_object(rng, verb[4].replace("H", "") if isinstance(verb[4], str) else verb[4])
    plural = THING_PLURAL[noun]
    det = "" if rng.random() < 0.5 else rng.choice(PLURAL_DETERMINERS)
    if noun in MASS:
        det = "the"
    o = t.noun_phrase(rng, plural, det=det, adjectives=adjectives_of(noun), adjective_rate=0.4)
    t.attach(o, v)
    if rng.random() < 0.5:
        t.prepositional(rng, v)
    _end(t, v)
    return t


def t_singular_present(rng: random.Random) -> Tree:
    """(DET NOUN | he/she | PROPN) VERB-3sg (OBJ ADV | ADV ADP DET NOUN) ."""
    t = Tree("present")
    kind = rng.choice(["np", "np", "name", "pronoun3"])
    s = t.add(rng.choice(SUBJECT_PRONOUNS_SINGULAR), "PRON") if kind == "pronoun3" else _subject(t, rng, kind)
    intransitive = rng.random() < 0.3
    verb = _intransitive(rng) if intransitive else _transitive(rng)
    v = t.add(verb[1], "VERB")
    t.attach(v, Tree.ROOT)
    t.attach(s, v)
    if not intransitive:
        _object(t, rng, v, verb[4])
    t.attach(t.add(rng.choice(MANNER_ADVERBS), "ADV"), v)
    if intransitive:
        t.prepositional(rng, v, motion=verb[0] in MOTION_VERBS)
    _end(t, v)
    return t


def t_progressive(rng: random.Random) -> Tree:
    """SUBJ AUX VERB-ing OBJ ADP DET NOUN . (was/is attached to the verb)."""
    t = Tree("progressive")
    kind = rng.choice(["np", "np", "name", "pronoun3"])
    s = t.add(rng.choice(SUBJECT_PRONOUNS_SINGULAR), "PRON") if kind == "pronoun3" else _subject(t, rng, kind)
    aux = t.add(rng.choice(["was", "is"]), "AUX")
    verb = _transitive(rng)
    v = t.add(verb[3], "VERB")
    t.attach(v, Tree.ROOT)
    t.attach(s, v)
    t.attach(aux, v)
    _object(t, rng, v, verb[4])
    t.prepositional(rng, v)
    _end(t, v)
    return t


def t_copula(rng: random.Random) -> Tree:
    """DET [ADJ] NOUN AUX [ADV-degree] ADJ . (UD: the predicate adjective is the root; the copula,
    the subject, the adverb and the full stop attach to it)."""
    t = Tree("copula")
    if rng.random() < 0.3:
        noun = rng.choice([s for s, _, c in THINGS if c == "E"])
        adjective = rng.choice(EVENT_PREDICATE_ADJECTIVES)
    else:
        noun = rng.choice([s for s, _, c in THINGS if c == "P"])
        adjective = rng.choice(PREDICATE_ADJECTIVES)
    s = t.noun_phrase(rng, noun, det=rng.choice(["the", "the", "this", "that", "my", "her", "his"]),
                      adjectives=[a for a in adjectives_of(noun) if a != adjective], adjective_rate=0.3)  # fmt: skip
    cop = t.add(rng.choice(["was", "is"]), "AUX")
    adv = t.add(rng.choice(DEGREE_ADVERBS), "ADV") if rng.random() < 0.6 else None
    a = t.add(adjective, "ADJ")
    t.attach(a, Tree.ROOT)
    t.attach(s, a)
    t.attach(cop, a)
    if adv is not None:
        t.attach(adv, a)
    _end(t, a, rng.choice([".", ".", "!"]))
    return t


def t_possessive(rng: random.Random) -> Tree:
    """PRON-poss NOUN VERB-past PRON-poss [ADJ] NOUN ."""
    t = Tree("possessive")
    s = t.noun_phrase(rng, rng.choice(RELATIONS), det=rng.choice(POSSESSIVES), adjectives=PERSON_ADJECTIVES, adjective_rate=0.2)
    verb = _transitive(rng)
    while verb[4] == "H":
        verb = _transitive(rng)
    v = t.add(verb[2], "VERB")
    t.attach(v, Tree.ROOT)
    t.attach(s, v)
    noun, _ = _pick_object(rng, verb[4].replace("H", "") if isinstance(verb[4], str) else verb[4])
    o = t.noun_phrase(rng, noun, det=rng.choice(POSSESSIVES), adjectives=adjectives_of(noun), adjective_rate=0.4)
    t.attach(o, v)
    _end(t, v)
    return t


def t_infinitive(rng: random.Random) -> Tree:
    """SUBJ VERB-past PART VERB-base (OBJ | ADP DET NOUN) . ("to" attached to the infinitive, the infinitive to
    the first verb)."""
    t = Tree("infinitive")
    s = _subject(t, rng, "any")
    v = t.add(rng.choice(CONTROL_VERBS), "VERB")
    to = t.add("to", "PART")
    intransitive = rng.random() < 0.3
    verb = _intransitive(rng) if intransitive else _transitive(rng)
    inf = t.add(verb[0], "VERB")
    t.attach(v, Tree.ROOT)
    t.attach(s, v)
    t.attach(to, inf)
    t.attach(inf, v)
    if intransitive:
        t.prepositional(rng, inf, motion=verb[0] in MOTION_VERBS)
    else:
        _object(t, rng, inf, verb[4])
    _end(t, v)
    return t


def t_coordinated_names(rng: random.Random) -> Tree:
    """PROPN CCONJ PROPN VERB-past OBJ ADP DET NOUN . (second name attached to the first, the
    conjunction to the second)."""
    t = Tree("names")
    first = t.add(rng.choice(NAMES), "PROPN")
    c = t.add(rng.choice(["and", "and", "or"]), "CCONJ")
    second = t.add(rng.choice([n for n in NAMES if n != t.words[first]]), "PROPN")
    t.attach(second, first)
    t.attach(c, second)
    verb = _transitive(rng)
    v = t.add(verb[2], "VERB")
    t.attach(v, Tree.ROOT)
    t.attach(first, v)
    _object(t, rng, v, verb[4])
    t.prepositional(rng, v)
    _end(t, v)
    return t


def t_subordinate(rng: random.Random) -> Tree:
    """SUBJ VERB-past SCONJ DET NOUN VERB-past . (the subordinate verb attached to the main
    verb, the subordinator to the subordinate verb)."""
    t = Tree("subordinate")
    s = _subject(t, rng, "any")
    verb = _intransitive(rng)
    v = t.add(verb[2], "VERB")
    t.attach(v, Tree.ROOT)
    t.attach(s, v)
    mark = t.add(rng.choice(SUBORDINATORS), "SCONJ")
    if rng.random() < 0.6:
        event = rng.choice(sorted(THING_EVENTS))
        subject = rng.choice(THING_EVENTS[event])
        s2 = t.noun_phrase(rng, subject, det="the", adjectives=adjectives_of(subject), adjective_rate=0.2)
        v2 = t.add(event, "VERB")
    else:
        s2 = _subject(t, rng, "any")
        other = _intransitive(rng)
        v2 = t.add(other[2], "VERB")
    t.attach(s2, v2)
    t.attach(mark, v2)
    t.attach(v2, v)
    _end(t, v)
    return t


def t_noun_modifier(rng: random.Random) -> Tree:
    """DET NOUN ADP DET [ADJ] NOUN VERB-past OBJ . (the prepositional phrase attached to the
    subject noun, UD nmod)."""
    t = Tree("nmod")
    s = t.noun_phrase(rng, rng.choice(PERSONS), adjectives=PERSON_ADJECTIVES, adjective_rate=0.2)
    if rng.random() < 0.6:
        p = t.add("with", "ADP")
        modifier, adjectives = rng.choice([s for s, _, c in THINGS if c == "P" and s not in MASS]), THING_ADJECTIVES
    else:
        p = t.add(rng.choice(["from", "near"]), "ADP")
        modifier, adjectives = rng.choice(PLACES), PLACE_ADJECTIVES
    m = t.noun_phrase(rng, modifier, det="the", adjectives=adjectives, adjective_rate=0.5)
    t.attach(p, m)
    t.attach(m, s)
    verb = _transitive(rng)
    v = t.add(verb[2], "VERB")
    t.attach(v, Tree.ROOT)
    t.attach(s, v)
    _object(t, rng, v, verb[4])
    _end(t, v)
    return t


def t_numeral(rng: random.Random) -> Tree:
    """SUBJ VERB-past NUM [ADJ] NOUN-plural ADP DET NOUN ."""
    t = Tree("numeral")
    s = _subject(t, rng, "any")
    verb = _transitive(rng)
    while verb[4] == "H" or verb[4] == "E" or (isinstance(verb[4], tuple) and all(o in MASS for o in verb[4])):
        verb = _transitive(rng)
    v = t.add(verb[2], "VERB")
    t.attach(v, Tree.ROOT)
    t.attach(s, v)
    noun = "water"
    while noun in MASS:
        noun, _ = _pick_object(rng, verb[4].replace("H", "") if isinstance(verb[4], str) else verb[4])
    num = t.add(rng.choice(NUMERALS), "NUM")
    adj = t.add(rng.choice(adjectives_of(noun)), "ADJ") if rng.random() < 0.4 else None
    o = t.add(THING_PLURAL[noun], "NOUN")
    t.attach(num, o)
    if adj is not None:
        t.attach(adj, o)
    t.attach(o, v)
    t.prepositional(rng, v)
    _end(t, v)
    return t


def t_imperative(rng: random.Random) -> Tree:
    """[INTJ] VERB-base OBJ [ADV | ADP DET NOUN] . (an imperative: the verb is the root)."""
    t = Tree("imperative")
    intj = t.add("please", "INTJ") if rng.random() < 0.35 else None
    verb = _transitive(rng)
    v = t.add(verb[0], "VERB")
    t.attach(v, Tree.ROOT)
    if intj is not None:
        t.attach(intj, v)
    _object(t, rng, v, verb[4])
    r = rng.random()
    if r < 0.4:
        t.attach(t.add(rng.choice(MANNER_ADVERBS), "ADV"), v)
    elif r < 0.8:
        t.prepositional(rng, v)
    _end(t, v, rng.choice([".", "!"]))
    return t


TEMPLATES = [
    t_svo_past, t_modal_pp, t_name_adverb, t_coordinated_verbs, t_plural_present, t_singular_present,
    t_progressive, t_copula, t_possessive, t_infinitive, t_coordinated_names, t_subordinate,
    t_noun_modifier, t_numeral, t_imperative,
]  # fmt: skip


def make_syntax_sentences(count: int = POS_SENTENCES) -> list[dict]:
    """``count`` distinct sentences, cycling through the templates; each a dict with words, tags,
    heads (1-based), text, template and group ("<template>-<n>")."""
    rng = random.Random("probing/syntax/v1")
    seen: set[tuple[str, ...]] = set()
    sentences = []
    attempt = 0
    while len(sentences) < count:
        template = TEMPLATES[attempt % len(TEMPLATES)]
        attempt += 1
        sentence = template(rng).finish()
        key = tuple(w.lower() for w in sentence["words"])
        if key in seen:
            continue
        seen.add(key)
        sentence["group"] = f"{sentence['template']}-{len(sentences) + 1}"
        sentences.append(sentence)
    return sentences


# ================================================================================================
# Sentiment: reviews of films, meals, hotels and products; every evaluative word has a known
# polarity and a sentence never mixes polarities. No negation ("not", "never", "no", "n't",
# "nothing", "hardly") anywhere, on either side.
# ================================================================================================

GENERAL_POSITIVE = [
    "excellent", "wonderful", "superb", "outstanding", "fantastic", "brilliant", "great", "lovely",
    "impressive", "marvellous", "terrific", "delightful", "splendid", "perfect",
]  # fmt: skip
GENERAL_NEGATIVE = [
    "awful", "terrible", "dreadful", "poor", "disappointing", "horrible", "mediocre", "appalling",
    "lousy", "dismal", "abysmal", "atrocious", "shoddy", "pathetic",
]  # fmt: skip

# domain -> item phrases, preposition ("the X in this film"), experience nouns ("What a ... !"),
# verb phrase for "again" / "regret", and aspect groups: (aspects, positive, negative adjectives).
DOMAINS = {
    "film": {
        "items": ["film", "movie", "documentary", "sequel", "thriller", "comedy", "musical", "drama"],
        "prep": "in",
        "experiences": ["film", "story", "performance", "evening at the cinema"],
        "again": "watch", "regret": "watching",
        "aspects": [
            (["plot", "story", "script", "dialogue", "ending"],
             ["gripping", "clever", "moving", "original", "witty"], ["dull", "predictable", "tedious", "confusing", "clumsy"]),
            (["acting", "soundtrack", "cinematography", "cast", "direction"], [], []),
        ],
    },
    "meal": {
        "items": ["restaurant", "café", "bistro", "diner", "pizzeria", "bakery", "canteen", "tea room"],
        "prep": "at",
        "experiences": ["meal", "dinner", "lunch", "breakfast"],
        "again": "eat at", "regret": "eating at",
        "aspects": [
            (["soup", "pasta", "dessert", "bread", "steak", "curry", "salad", "coffee", "pizza"],
             ["delicious", "tasty", "fresh", "flavourful", "rich"], ["bland", "greasy", "stale", "soggy", "overcooked"]),
            (["service", "waiter", "staff", "host", "chef"],
             ["friendly", "attentive", "helpful", "polite", "welcoming"], ["rude", "slow", "careless", "sloppy", "grumpy"]),
        ],
    },
    "hotel": {
        "items": ["hotel", "resort", "guesthouse", "inn", "hostel", "lodge", "motel", "spa hotel"],
        "prep": "at",
        "experiences": ["stay", "holiday", "weekend", "hotel"],
        "again": "stay at", "regret": "staying at",
        "aspects": [
            (["room", "bed", "bathroom", "shower", "lobby"],
             ["spotless", "cosy", "spacious", "comfortable", "clean"], ["dirty", "cramped", "noisy", "shabby", "filthy"]),
            (["view", "breakfast", "location", "pool", "reception"], [], []),
            (["staff", "manager", "porter", "receptionist"],
             ["friendly", "attentive", "helpful", "polite", "welcoming"], ["rude", "slow", "careless", "sloppy", "grumpy"]),
        ],
    },
    "product": {
        "items": ["phone", "laptop", "tablet", "camera", "speaker", "smartwatch", "e-reader", "printer"],
        "prep": "of",
        "experiences": ["purchase", "gadget", "device", "bargain"],
        "again": "buy", "regret": "buying",
        "aspects": [
            (["case", "frame", "hinge", "casing"],
             ["sturdy", "solid", "robust", "durable"], ["flimsy", "fragile", "brittle", "wobbly"]),
            (["battery", "screen", "design", "sound", "charger", "keyboard", "display"], [], []),
        ],
    },
}  # fmt: skip
DOMAIN_NAMES = sorted(DOMAINS)

POSITIVE_VERBS_EXPERIENCER = ["loved", "adored", "enjoyed", "liked", "admired", "treasured"]
NEGATIVE_VERBS_EXPERIENCER = ["hated", "disliked", "loathed", "detested", "resented", "despised"]
POSITIVE_VERBS_STIMULUS = ["delighted", "impressed", "amazed", "thrilled", "charmed", "pleased"]
NEGATIVE_VERBS_STIMULUS = ["disappointed", "annoyed", "bored", "frustrated", "irritated", "upset"]
POSITIVE_INTENSIFIERS = ["truly", "really", "absolutely", "simply", "quite", ""]
NEGATIVE_INTENSIFIERS = ["truly", "really", "absolutely", "simply", "quite", ""]
POSITIVE_ADVERBS = ["happily", "gladly", "eagerly", "gratefully"]
REVIEWERS = [("I", "me"), ("We", "us"), ("My wife", "her"), ("My husband", "him"), ("My friends", "them"), ("Our family", "us")]


def _aspect(rng: random.Random, domain: dict, polarity: str) -> tuple[str, str]:
    aspects, positive, negative = rng.choice(domain["aspects"])
    specific = positive if polarity == "positive" else negative
    general = GENERAL_POSITIVE if polarity == "positive" else GENERAL_NEGATIVE
    pool = specific * 2 + general if specific else general
    return rng.choice(aspects), rng.choice(pool)


def _with_article(word: str) -> str:
    return ("an " if word[0] in "aeiou" else "a ") + word


def _sentiment_sentence(rng: random.Random, template: int, polarity: str) -> str:
    pos = polarity == "positive"
    domain = DOMAINS[rng.choice(DOMAIN_NAMES)]
    item = rng.choice(domain["items"])
    general = GENERAL_POSITIVE if pos else GENERAL_NEGATIVE
    intensifier = rng.choice(POSITIVE_INTENSIFIERS if pos else NEGATIVE_INTENSIFIERS)
    degree = (intensifier + " ") if intensifier else ""
    if template == 0:
        aspect, adj = _aspect(rng, domain, polarity)
        return f"The {aspect} was {degree}{adj}."
    if template == 1:
        reviewer = rng.choice(REVIEWERS)[0]
        verb = rng.choice(POSITIVE_VERBS_EXPERIENCER if pos else NEGATIVE_VERBS_EXPERIENCER)
        aspect, _ = _aspect(rng, domain, polarity)
        return f"{reviewer} {verb} the {aspect} {domain['prep']} this {item}."
    if template == 2:
        reviewer = rng.choice(REVIEWERS)[0]
        verb = rng.choice(POSITIVE_VERBS_EXPERIENCER if pos else NEGATIVE_VERBS_EXPERIENCER)
        return f"{reviewer} {verb} this {item}."
    if template == 3:
        adj = rng.choice(general)
        return f"What {_with_article(adj)} {rng.choice(domain['experiences'])}!"
    if template == 4:
        reviewer_obj = rng.choice(REVIEWERS)[1]
        aspect, _ = _aspect(rng, domain, polarity)
        verb = rng.choice(POSITIVE_VERBS_STIMULUS if pos else NEGATIVE_VERBS_STIMULUS)
        return f"The {aspect} {verb} {reviewer_obj}."
    if template == 5:
        adj = rng.choice(general)
        return f"It was {_with_article(adj)} {rng.choice(domain['experiences'])} from start to finish."
    if template == 6:
        (a1, j1), (a2, j2) = _aspect(rng, domain, polarity), _aspect(rng, domain, polarity)
        while a2 == a1:
            a2, j2 = _aspect(rng, domain, polarity)
        return f"The {a1} was {j1} and the {a2} was {j2}."
    if template == 7:
        if pos:
            return f"I would {rng.choice(POSITIVE_ADVERBS)} {domain['again']} this {item} again."
        return f"I {rng.choice(['deeply', 'really', 'bitterly'])} regret {domain['regret']} this {item}."
    if template == 8:
        adj = rng.choice(general)
        return f"Everything about this {item} was {degree}{adj}."
    reviewer = rng.choice(["I", "We", "My sister", "My parents", "Our group"])
    aspect, adj = _aspect(rng, domain, polarity)
    return f"{reviewer} found the {aspect} {degree}{adj}."


SENTIMENT_TEMPLATES = 10


def make_sentiment(per_label: int = SENTIMENT_PER_LABEL) -> list[dict]:
    rng = random.Random("probing/sentiment/v1")
    examples = []
    seen: set[str] = set()
    counts = {"positive": 0, "negative": 0}
    attempt = 0
    while min(counts.values()) < per_label:
        polarity = "positive" if attempt % 2 == 0 else "negative"
        template = (attempt // 2) % SENTIMENT_TEMPLATES
        attempt += 1
        if counts[polarity] >= per_label:
            continue
        text = _sentiment_sentence(rng, template, polarity)
        if text in seen:
            continue
        seen.add(text)
        counts[polarity] += 1
        examples.append({"text": text, "label": polarity, "group": f"review{template}-{len(examples) + 1}"})
    return examples


# ================================================================================================
# Concepts: gender, profession, emotion, and counterfactual pairs.
# ================================================================================================

# (male, female) pairs of gendered words; a counterfactual swaps each for its partner and changes
# nothing else. "her" is both the female of "his" and of "him": the templates know which one.
GENDER_PRONOUNS = {"subject": ("he", "she"), "object": ("him", "her"), "possessive": ("his", "her")}
# Relatives ("my uncle") and people ("the woman").
GENDER_RELATIVES = [
    ("father", "mother"), ("brother", "sister"), ("uncle", "aunt"), ("son", "daughter"), ("husband", "wife"),
    ("grandfather", "grandmother"), ("nephew", "niece"),
]  # fmt: skip
SPOUSES = {"husband", "wife"}  # "my husband", not "their husband"
GENDER_PEOPLE = [("man", "woman"), ("gentleman", "lady"), ("young man", "young woman"), ("old man", "old woman")]
GENDER_NOUNS = GENDER_RELATIVES + [("man", "woman"), ("gentleman", "lady")]
GENDER_TITLES = ("Mr.", "Ms.")
MALE_NAMES = [
    "John", "David", "Michael", "Thomas", "Robert", "Daniel", "Peter", "Mark", "Paul", "Andrew",
    "George", "Henry", "Samuel", "Oliver", "William", "Edward", "Jacob", "Luke", "Adam", "Simon",
]  # fmt: skip
FEMALE_NAMES = [
    "Mary", "Sarah", "Emma", "Laura", "Anna", "Rachel", "Helen", "Kate", "Susan", "Lucy",
    "Grace", "Alice", "Sophie", "Olivia", "Hannah", "Emily", "Claire", "Julia", "Rose", "Ellen",
]  # fmt: skip
SURNAMES = ["Smith", "Brown", "Taylor", "Wilson", "Clarke", "Walker", "Wright", "Green", "Hall", "Lee", "Young", "King"]


def gendered_word_pairs() -> list[tuple[str, str]]:
    """Every (male, female) word pair a counterfactual may swap, capitalised forms included."""
    pairs = list(GENDER_PRONOUNS.values()) + GENDER_NOUNS + [GENDER_TITLES] + list(zip(MALE_NAMES, FEMALE_NAMES, strict=True))
    return pairs + [(m.capitalize(), f.capitalize()) for m, f in pairs if m[0].islower()]


PROFESSIONS = {
    "nurse": ["cares for patients on the night shift", "checks the patients on the ward", "gives injections at the clinic"],
    "engineer": ["designs bridges and tunnels", "tests engines at the factory", "repairs machines for the railway"],
    "teacher": ["marks homework every evening", "teaches history to young children", "prepares lessons for the week"],
    "doctor": ["sees patients at the clinic", "treats injuries in the emergency room", "writes prescriptions all day"],
    "chef": ["cooks for a busy restaurant", "bakes bread before dawn", "plans the menu every morning"],
    "pilot": ["flies long routes across the ocean", "lands planes at the city airport", "checks the cockpit before take-off"],
    "lawyer": ["defends clients in court", "drafts contracts for small firms", "advises families on wills"],
    "farmer": ["grows wheat and keeps sheep", "milks the cows at dawn", "harvests apples in the autumn"],
}  # fmt: skip
PROFESSION_NAMES = sorted(PROFESSIONS)
PLACES_OF_WORK = ["in the city", "in a small town", "near the coast", "in the capital", "in a village", "abroad"]


def _person(rng: random.Random, female: bool) -> dict:
    """A gendered referent: its subject phrase and its pronouns."""
    g = 1 if female else 0
    kind = rng.choice(["pronoun", "noun", "noun", "title", "name", "name"])
    if kind == "pronoun":
        subject = GENDER_PRONOUNS["subject"][g].capitalize()
    elif kind == "noun" and rng.random() < 0.7:
        relative = rng.choice(GENDER_RELATIVES)[g]
        subject = f"{rng.choice(['My', 'Your'] if relative in SPOUSES else ['My', 'Our', 'Your', 'Their'])} {relative}"
    elif kind == "noun":
        subject = f"{rng.choice(['The', 'That'])} {rng.choice(GENDER_PEOPLE)[g]}"
    elif kind == "title":
        subject = f"{GENDER_TITLES[g]} {rng.choice(SURNAMES)}"
    else:
        subject = rng.choice(FEMALE_NAMES if female else MALE_NAMES)
    obj = GENDER_PRONOUNS["object"][g] if kind == "pronoun" else subject
    if obj.split()[0] in ("My", "Our", "Your", "Their", "The", "That"):
        obj = obj[0].lower() + obj[1:]
    return {
        "subject": subject,
        "object": obj,
        "he": GENDER_PRONOUNS["subject"][g],
        "him": GENDER_PRONOUNS["object"][g],
        "his": GENDER_PRONOUNS["possessive"][g],
    }


def _profession_sentence(rng: random.Random, template: int, profession: str, p: dict) -> str:
    a = _with_article(profession)
    activity = rng.choice(PROFESSIONS[profession])
    s, he, his = p["subject"], p["he"], p["his"]
    return [
        lambda: f"{s} is {a}.",
        lambda: f"{s} works as {a} {rng.choice(PLACES_OF_WORK)}.",
        lambda: f"{s} has been {a} for {rng.choice(['two', 'five', 'ten', 'twenty'])} years.",
        lambda: f"{s} trained for years to become {a}.",
        lambda: f"As {a}, {he} {activity}.",
        lambda: f"{s} is {a} who {activity}.",
        lambda: f"{s} loves {his} job as {a}.",
        lambda: f"Everyone says {he} is a good {profession}.",
    ][template]()


PROFESSION_TEMPLATES = 8

ACTIVITIES = [
    "went to the market this morning", "bought a new bicycle", "likes to read in the evening",
    "walked the dog after dinner", "painted the kitchen last week", "is learning to play the guitar",
    "visited the museum on Sunday", "took the early train to work", "planted tomatoes in the garden",
    "wrote a long letter to a friend", "moved to a new flat", "cooked dinner for the whole family",
]  # fmt: skip


GIFTS = ["the lovely dinner", "the kind gift", "the help with the move", "the birthday cake", "the flowers"]
BELONGINGS = ["umbrella", "phone", "keys", "bag", "scarf"]
PROMISES = ["arrive late", "call tomorrow", "bring dessert", "help us move", "be back soon"]
WHEN = ["yesterday", "last week", "on Monday", "this morning"]


def _gender_sentence(rng: random.Random, template: int, p: dict) -> str:
    s, he, his, obj = p["subject"], p["he"], p["his"], p["object"]
    if template < 3:
        return _profession_sentence(rng, template, rng.choice(PROFESSION_NAMES), p)
    c = rng.choice
    return [
        lambda: f"{s} {c(ACTIVITIES)}.",
        lambda: f"Everyone thanked {obj} for {c(GIFTS)}.",
        lambda: f"{s} left {his} {c(BELONGINGS)} on the {c(['bus', 'train', 'table', 'bench'])}.",
        lambda: f"{s} said that {he} would {c(PROMISES)}.",
        lambda: f"{s} smiled at {his} {c(['neighbour', 'friend', 'teacher', 'cousin', 'colleague'])}.",
        lambda: f"We met {obj} at the {c(['station', 'market', 'library', 'party', 'bakery'])} {c(WHEN)}.",
    ][template - 3]()


GENDER_TEMPLATES = 9

EMOTIONS = {
    "joy": {
        "adjectives": ["happy", "delighted", "overjoyed", "thrilled", "cheerful", "glad"],
        "nouns": ["joy", "delight", "happiness"],
        "events": ["the good news arrived", "the exam results came in", "an old friend visited", "the team won the final",
                   "the sun came out after weeks of rain", "the baby laughed for the first time"],
        "behaviours": ["laughed all the way home", "danced around the kitchen", "hugged everyone at the party",
                       "sang loudly in the shower", "jumped up and cheered"],
        "objects": ["the surprise party", "the wonderful gift", "the happy reunion", "the wedding invitation"],
    },
    "anger": {
        "adjectives": ["angry", "furious", "annoyed", "irritated", "outraged", "livid"],
        "nouns": ["anger", "rage", "fury"],
        "events": ["someone scratched the car", "the neighbours played loud music all night", "the bank charged a huge fee",
                   "a colleague stole the credit for the work", "the landlord raised the rent again", "the driver cut in line"],
        "behaviours": ["slammed the door", "shouted at the driver", "banged a fist on the table",
                       "stormed out of the meeting", "kicked the bin in rage"],
        "objects": ["the unfair decision", "the rude reply", "the broken promise", "the insulting letter"],
    },
    "sadness": {
        "adjectives": ["sad", "miserable", "heartbroken", "gloomy", "sorrowful", "downcast"],
        "nouns": ["sadness", "grief", "sorrow"],
        "events": ["the old dog died", "the best friend moved away", "the holiday came to an end", "the letter brought bad news",
                   "the family home was sold", "the garden was lost in the flood"],
        "behaviours": ["cried quietly all evening", "stared at old photographs for hours", "wept at the funeral",
                       "sat alone by the window", "sighed and looked at the grey sky"],
        "objects": ["the sad farewell", "the empty house", "the news of the accident", "the last goodbye"],
    },
    "fear": {
        "adjectives": ["afraid", "scared", "terrified", "frightened", "fearful", "petrified"],
        "nouns": ["fear", "terror", "dread"],
        "events": ["the lights went out during the storm", "footsteps sounded in the empty house", "the plane shook violently",
                   "a dog growled in the dark", "the ice cracked underfoot", "a stranger followed them home"],
        "behaviours": ["trembled in the dark", "hid under the blanket", "froze at the sound of footsteps",
                       "ran from the barking dog", "locked every door twice"],
        "objects": ["the dark forest", "the strange noise", "the deep water", "the approaching storm"],
    },
}  # fmt: skip
EMOTION_NAMES = ["joy", "anger", "sadness", "fear"]


def _capitalized(text: str) -> str:
    return text[0].upper() + text[1:]


def _emotion_sentence(rng: random.Random, template: int, emotion: str, p: dict) -> str:
    e = EMOTIONS[emotion]
    s, him = p["subject"], p["him"]
    adjective = rng.choice(e["adjectives"])
    return [
        lambda: f"{s} felt {adjective} when {rng.choice(e['events'])}.",
        lambda: f"{s} {rng.choice(e['behaviours'])}.",
        lambda: f"{s} was {adjective} {'of' if emotion == 'fear' else 'about'} {rng.choice(e['objects'])}.",
        lambda: f"{_capitalized(rng.choice(e['objects']))} filled {him} with {rng.choice(e['nouns'])}.",
        lambda: f"{s} was {adjective} because {rng.choice(e['events'])}.",
    ][template]()


EMOTION_TEMPLATES = 5


def _balanced_sentences(rng: random.Random, count: int, labels: list[str], templates: int, make, name: str) -> list[dict]:
    """``count`` distinct examples (``count // len(labels)`` per label), in rounds of one example
    per label; the template changes every two rounds and the gender of the person every round,
    so that each label has every template with both genders. ``make(template, label, person)``
    writes one (drawn again when it repeats an earlier text)."""
    examples: list[dict] = []
    seen: set[str] = set()
    for round_ in range(count // len(labels)):
        female = round_ % 2 == 1
        template = (round_ // 2) % templates
        for label in labels:
            text = make(template, label, _person(rng, female))
            tries = 1
            while text in seen:
                assert tries < 1000, (name, template, label)
                text = make(template, label, _person(rng, female))
                tries += 1
            seen.add(text)
            examples.append({"text": text, "label": label, "group": f"{name}{template}-{len(examples) + 1}"})
    return examples


def make_concepts() -> dict:
    rng = random.Random("probing/concepts/v1")
    gender = _balanced_sentences(
        rng, CONCEPT_EXAMPLES, ["female", "male"], GENDER_TEMPLATES,
        lambda template, label, _p: _gender_sentence(rng, template, _person(rng, label == "female")), "gender",
    )  # fmt: skip
    profession = _balanced_sentences(
        rng, CONCEPT_EXAMPLES, PROFESSION_NAMES, PROFESSION_TEMPLATES,
        lambda template, label, p: _profession_sentence(rng, template, label, p), "profession",
    )  # fmt: skip
    emotion = _balanced_sentences(
        rng, CONCEPT_EXAMPLES, EMOTION_NAMES, EMOTION_TEMPLATES,
        lambda template, label, p: _emotion_sentence(rng, template, label, p), "emotion",
    )  # fmt: skip
    pairs = []
    seen: set[str] = set()
    for profession_name in PROFESSION_NAMES:
        made = 0
        attempt = 0
        while made < BIAS_PAIRS_PER_PROFESSION:
            template = attempt % PROFESSION_TEMPLATES
            female_original = attempt % 2 == 1
            attempt += 1
            # One draw of every random choice, rendered for both genders.
            state = rng.getstate()
            original = _profession_sentence(rng, template, profession_name, _person(rng, female_original))
            rng.setstate(state)
            counterfactual = _profession_sentence(rng, template, profession_name, _person(rng, not female_original))
            if original in seen:
                continue
            seen.add(original)
            pairs.append({"original": original, "counterfactual": counterfactual})
            made += 1
    return {
        "tasks": [
            {"name": "gender", "level": "sentence", "examples": gender},
            {"name": "profession", "level": "sentence", "examples": profession},
            {"name": "emotion", "level": "sentence", "examples": emotion},
        ],
        "bias": {"protected_task": "gender", "pairs": pairs},
    }


# ================================================================================================
# Parallel sentences, written by hand (not generated). Simple present tense, common words.
# ================================================================================================

PARALLEL_SENTENCES = [
    {"en": "The cat sleeps on the sofa.", "fr": "Le chat dort sur le canapé.", "es": "El gato duerme en el sofá.", "de": "Die Katze schläft auf dem Sofa."},
    {"en": "I drink coffee every morning.", "fr": "Je bois du café tous les matins.", "es": "Bebo café todas las mañanas.", "de": "Ich trinke jeden Morgen Kaffee."},
    {"en": "The children play in the garden.", "fr": "Les enfants jouent dans le jardin.", "es": "Los niños juegan en el jardín.", "de": "Die Kinder spielen im Garten."},
    {"en": "My brother reads a book.", "fr": "Mon frère lit un livre.", "es": "Mi hermano lee un libro.", "de": "Mein Bruder liest ein Buch."},
    {"en": "The weather is nice today.", "fr": "Il fait beau aujourd'hui.", "es": "Hoy hace buen tiempo.", "de": "Heute ist das Wetter schön."},
    {"en": "We live in a small house.", "fr": "Nous habitons dans une petite maison.", "es": "Vivimos en una casa pequeña.", "de": "Wir wohnen in einem kleinen Haus."},
    {"en": "The train arrives at eight o'clock.", "fr": "Le train arrive à huit heures.", "es": "El tren llega a las ocho.", "de": "Der Zug kommt um acht Uhr an."},
    {"en": "She likes apples.", "fr": "Elle aime les pommes.", "es": "A ella le gustan las manzanas.", "de": "Sie mag Äpfel."},
    {"en": "The dog is very friendly.", "fr": "Le chien est très gentil.", "es": "El perro es muy simpático.", "de": "Der Hund ist sehr freundlich."},
    {"en": "My mother works in a hospital.", "fr": "Ma mère travaille dans un hôpital.", "es": "Mi madre trabaja en un hospital.", "de": "Meine Mutter arbeitet in einem Krankenhaus."},
    {"en": "The water is cold.", "fr": "L'eau est froide.", "es": "El agua está fría.", "de": "Das Wasser ist kalt."},
    {"en": "He opens the window.", "fr": "Il ouvre la fenêtre.", "es": "Él abre la ventana.", "de": "Er öffnet das Fenster."},
    {"en": "We eat bread and cheese.", "fr": "Nous mangeons du pain et du fromage.", "es": "Comemos pan y queso.", "de": "Wir essen Brot und Käse."},
    {"en": "The shop closes at six o'clock.", "fr": "Le magasin ferme à six heures.", "es": "La tienda cierra a las seis.", "de": "Das Geschäft schließt um sechs Uhr."},
    {"en": "I have two sisters.", "fr": "J'ai deux sœurs.", "es": "Tengo dos hermanas.", "de": "Ich habe zwei Schwestern."},
    {"en": "The book is on the table.", "fr": "Le livre est sur la table.", "es": "El libro está sobre la mesa.", "de": "Das Buch liegt auf dem Tisch."},
    {"en": "They speak very quickly.", "fr": "Ils parlent très vite.", "es": "Ellos hablan muy rápido.", "de": "Sie sprechen sehr schnell."},
    {"en": "The flowers are red and yellow.", "fr": "Les fleurs sont rouges et jaunes.", "es": "Las flores son rojas y amarillas.", "de": "Die Blumen sind rot und gelb."},
    {"en": "My father cooks dinner on Sundays.", "fr": "Mon père prépare le dîner le dimanche.", "es": "Mi padre prepara la cena los domingos.", "de": "Mein Vater kocht sonntags das Abendessen."},
    {"en": "I need a new pair of shoes.", "fr": "J'ai besoin d'une nouvelle paire de chaussures.", "es": "Necesito un par de zapatos nuevos.", "de": "Ich brauche ein neues Paar Schuhe."},
    {"en": "The baby sleeps in her bed.", "fr": "Le bébé dort dans son lit.", "es": "El bebé duerme en su cama.", "de": "Das Baby schläft in seinem Bett."},
    {"en": "We go to school by bike.", "fr": "Nous allons à l'école à vélo.", "es": "Vamos a la escuela en bicicleta.", "de": "Wir fahren mit dem Fahrrad zur Schule."},
    {"en": "The teacher writes on the board.", "fr": "Le professeur écrit au tableau.", "es": "El profesor escribe en la pizarra.", "de": "Der Lehrer schreibt an die Tafel."},
    {"en": "This soup is too hot.", "fr": "Cette soupe est trop chaude.", "es": "Esta sopa está demasiado caliente.", "de": "Diese Suppe ist zu heiß."},
    {"en": "My friend lives in Paris.", "fr": "Mon ami habite à Paris.", "es": "Mi amigo vive en París.", "de": "Mein Freund wohnt in Paris."},
    {"en": "The birds sing in the trees.", "fr": "Les oiseaux chantent dans les arbres.", "es": "Los pájaros cantan en los árboles.", "de": "Die Vögel singen in den Bäumen."},
    {"en": "I am hungry.", "fr": "J'ai faim.", "es": "Tengo hambre.", "de": "Ich habe Hunger."},
    {"en": "The car is in the garage.", "fr": "La voiture est dans le garage.", "es": "El coche está en el garaje.", "de": "Das Auto ist in der Garage."},
    {"en": "She listens to music in the evening.", "fr": "Elle écoute de la musique le soir.", "es": "Ella escucha música por la noche.", "de": "Sie hört abends Musik."},
    {"en": "The river is long and wide.", "fr": "La rivière est longue et large.", "es": "El río es largo y ancho.", "de": "Der Fluss ist lang und breit."},
    {"en": "We visit our grandparents on Saturdays.", "fr": "Nous rendons visite à nos grands-parents le samedi.", "es": "Visitamos a nuestros abuelos los sábados.", "de": "Wir besuchen samstags unsere Großeltern."},
    {"en": "The door is open.", "fr": "La porte est ouverte.", "es": "La puerta está abierta.", "de": "Die Tür ist offen."},
    {"en": "He buys fresh fruit at the market.", "fr": "Il achète des fruits frais au marché.", "es": "Él compra fruta fresca en el mercado.", "de": "Er kauft frisches Obst auf dem Markt."},
    {"en": "The room has a big window.", "fr": "La chambre a une grande fenêtre.", "es": "La habitación tiene una ventana grande.", "de": "Das Zimmer hat ein großes Fenster."},
    {"en": "My sister plays the piano.", "fr": "Ma sœur joue du piano.", "es": "Mi hermana toca el piano.", "de": "Meine Schwester spielt Klavier."},
    {"en": "It is cold in winter.", "fr": "Il fait froid en hiver.", "es": "Hace frío en invierno.", "de": "Im Winter ist es kalt."},
    {"en": "The students learn English.", "fr": "Les élèves apprennent l'anglais.", "es": "Los estudiantes aprenden inglés.", "de": "Die Schüler lernen Englisch."},
    {"en": "I write a letter to my grandmother.", "fr": "J'écris une lettre à ma grand-mère.", "es": "Escribo una carta a mi abuela.", "de": "Ich schreibe meiner Großmutter einen Brief."},
    {"en": "The milk is in the fridge.", "fr": "Le lait est dans le frigo.", "es": "La leche está en la nevera.", "de": "Die Milch ist im Kühlschrank."},
    {"en": "The clock on the wall is broken.", "fr": "L'horloge sur le mur est cassée.", "es": "El reloj de la pared está roto.", "de": "Die Uhr an der Wand ist kaputt."},
    {"en": "Thank you for your help.", "fr": "Merci pour ton aide.", "es": "Gracias por tu ayuda.", "de": "Danke für deine Hilfe."},
    {"en": "Where is the station?", "fr": "Où est la gare ?", "es": "¿Dónde está la estación?", "de": "Wo ist der Bahnhof?"},
    {"en": "The tea is ready.", "fr": "Le thé est prêt.", "es": "El té está listo.", "de": "Der Tee ist fertig."},
    {"en": "My grandfather walks in the park every day.", "fr": "Mon grand-père se promène dans le parc tous les jours.", "es": "Mi abuelo pasea por el parque todos los días.", "de": "Mein Großvater geht jeden Tag im Park spazieren."},
]  # fmt: skip
LANGUAGES = ["en", "fr", "es", "de"]


# ================================================================================================
# Writing.
# ================================================================================================


def _j(value) -> str:
    return json.dumps(value, ensure_ascii=False)


def _lines_of_list(items: list, indent: str) -> list[str]:
    return [indent + _j(item) + ("," if i < len(items) - 1 else "") for i, item in enumerate(items)]


def suite_text(header: dict, tasks: list[dict], bias: dict | None = None) -> str:
    """A suite file: header fields, then each task with one example per line, then the bias
    object with one pair per line (so that a line number names one example)."""
    lines = ["{"]
    for key, value in header.items():
        lines.append(f"  {_j(key)}: {_j(value)},")
    lines.append('  "tasks": [')
    for t, task in enumerate(tasks):
        lines += ["    {", f'      "name": {_j(task["name"])},', f'      "level": {_j(task["level"])},', '      "examples": [']
        lines += _lines_of_list(task["examples"], "        ")
        lines += ["      ]", "    }" + ("," if t < len(tasks) - 1 else "")]
    lines.append("  ]" + ("," if bias else ""))
    if bias:
        lines += ['  "bias": {', f'    "protected_task": {_j(bias["protected_task"])},', '    "pairs": [']
        lines += _lines_of_list(bias["pairs"], "      ")
        lines += ["    ]", "  }"]
    lines.append("}")
    text = "\n".join(lines) + "\n"
    expected = dict(header, tasks=tasks, **({"bias": bias} if bias else {}))
    assert json.loads(text) == expected
    return text


def build() -> dict[str, str]:
    """The content of every generated file, by file name."""
    syntax = make_syntax_sentences()
    sentiment = make_sentiment()
    suite = suite_text(
        {
            "name": "linguistic probing suite",
            "description": (
                "Template-generated English sentences with Universal POS tags and UD-style dependency heads known by "
                "construction (the same sentences in both tasks), and template reviews with sentiment labels known by "
                "construction. Generated by examples/probing/make_datasets.py."
            ),
            "provenance": PROVENANCE,
        },
        [
            {
                "name": "pos_tagging",
                "level": "token",
                "examples": [{"text": s["text"], "words": s["words"], "labels": s["tags"], "group": s["group"]} for s in syntax],
            },
            {
                "name": "parsing",
                "level": "distance",
                "examples": [{"text": s["text"], "words": s["words"], "heads": s["heads"], "group": s["group"]} for s in syntax],
            },
            {"name": "sentiment", "level": "sentence", "examples": sentiment},
        ],
    )
    concepts = make_concepts()
    concepts_text = suite_text(
        {
            "name": "concepts",
            "description": (
                "Template sentences labelled by construction with the gender of the person they mention, a profession "
                "(both genders balanced within each) and an emotion, plus counterfactual pairs that swap only the "
                "gendered words. Generated by examples/probing/make_datasets.py."
            ),
            "provenance": PROVENANCE,
        },
        concepts["tasks"],
        concepts["bias"],
    )
    for entry in PARALLEL_SENTENCES:
        assert list(entry) == LANGUAGES and all(entry[lang].strip() for lang in LANGUAGES), entry
    multilingual = "\n".join(
        ["{", f'  "languages": {_j(LANGUAGES)},', '  "sentences": ['] + _lines_of_list(PARALLEL_SENTENCES, "    ") + ["  ]", "}"]
    ) + "\n"  # fmt: skip
    assert json.loads(multilingual) == {"languages": LANGUAGES, "sentences": PARALLEL_SENTENCES}
    return {
        SUITE_FILE: suite,
        CONCEPTS_FILE: concepts_text,
        MULTILINGUAL_FILE: multilingual,
        COMPARISON_FILE: comparison_text(syntax, sentiment, concepts),
    }


def comparison_text(syntax: list[dict], sentiment: list[dict], concepts: dict) -> str:
    """About COMPARISON_SENTENCES varied sentences: grammar sentences of every template, reviews,
    concept sentences and the English side of the parallel set, shuffled."""
    rng = random.Random("probing/comparison/v1")
    by_template: dict[str, list[str]] = {}
    for s in syntax:
        by_template.setdefault(s["template"], []).append(s["text"])
    chosen: list[str] = []
    for template in sorted(by_template):
        chosen += rng.sample(by_template[template], 4)
    chosen += rng.sample([e["text"] for e in sentiment], 30)
    for task in concepts["tasks"]:
        chosen += rng.sample([e["text"] for e in task["examples"]], 10)
    chosen += [entry["en"] for entry in PARALLEL_SENTENCES]
    unique = list(dict.fromkeys(chosen))
    rng.shuffle(unique)
    unique = unique[:COMPARISON_SENTENCES]
    assert all("\t" not in s and not s.startswith("#") for s in unique)
    return "\n".join(unique) + "\n"


def write_all(out_dir: str | Path = HERE) -> list[Path]:
    """Writes every generated file into ``out_dir``; returns their paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in build().items():
        path = out / name
        path.write_text(text, encoding="utf-8", newline="\n")
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=str(HERE), help="output folder (default: next to this script)")
    args = parser.parse_args(argv)
    for path in write_all(args.out):
        print(path)
    if Path(args.out).resolve() == HERE.resolve():
        # probe-concepts' built-in data and probe-linguistic's shipped suite, inside the client package.
        PACKAGED_CONCEPTS.parent.mkdir(parents=True, exist_ok=True)
        for name, packaged in ((CONCEPTS_FILE, PACKAGED_CONCEPTS), (SUITE_FILE, PACKAGED_CONCEPTS.with_name(SUITE_FILE))):
            shutil.copyfile(HERE / name, packaged)
            print(packaged)


if __name__ == "__main__":
    main()
