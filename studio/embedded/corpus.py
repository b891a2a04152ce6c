"""The generated corpus the embedded text model learns from: simple stories, facts, sums and chats.

Everything is drawn from small word lists with a seeded `random.Random`, so the
same seed gives the same corpus on every machine, and tests can ask which words
the model could have learned (`vocabulary()`) and which sums it never saw
(`held_out_sums()`).
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

# name -> pronoun; the stories keep pronouns consistent so samples read as grammatical English.
NAMES = {"Tom": "he", "Sam": "he", "Ben": "he", "Max": "he", "Leo": "he",
         "Mia": "she", "Lily": "she", "Anna": "she", "Zoe": "she", "Emma": "she"}
ANIMALS = {"cat": (4, "meow"), "dog": (4, "woof"), "bird": (2, "tweet"), "duck": (2, "quack"),
           "cow": (4, "moo"), "frog": (4, "ribbit"), "horse": (4, "neigh"), "sheep": (4, "baa")}
PLACES = ["park", "forest", "river", "garden", "beach", "farm", "hill", "lake"]
OBJECTS = ["ball", "box", "hat", "kite", "book", "shell", "key", "cup", "drum", "boat"]
COLOURS = ["red", "blue", "green", "yellow", "small", "big", "shiny", "little"]
LIKES = ["play", "run", "read", "sing", "swim", "jump", "draw", "dance"]
FEELINGS = ["happy", "glad", "proud", "surprised", "excited"]
FRIENDS = ["friend", "mother", "father", "sister", "brother", "teacher"]
COUNTRIES = {"France": "Paris", "Spain": "Madrid", "Italy": "Rome", "Japan": "Tokyo",
             "Egypt": "Cairo", "Peru": "Lima", "Kenya": "Nairobi", "Canada": "Ottawa"}
THINGS = {"sky": "blue", "grass": "green", "snow": "white", "sun": "hot", "ice": "cold",
          "sea": "big", "night": "dark", "fire": "hot"}
DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
STORY_REQUESTS = ["Tell me a story about {x}.", "Write a short story about {x}.", "Can you tell me a story about {x}?"]
SYSTEM_PROMPTS = ["You are a helpful assistant.", "You are a friendly storyteller.", "Answer briefly."]

MAX_OPERAND = 49  # sums a+b with 0 <= a, b <= 49


def held_out_sums() -> list[tuple[int, int]]:
    """About one sum in ten, chosen by a fixed rule, never appears in training: the test set."""
    return [(a, b) for a in range(MAX_OPERAND + 1) for b in range(MAX_OPERAND + 1) if (a * 7 + b * 3) % 10 == 4]


def _training_sums() -> list[tuple[int, int]]:
    held = set(held_out_sums())
    return [(a, b) for a in range(MAX_OPERAND + 1) for b in range(MAX_OPERAND + 1) if (a, b) not in held]


def sum_line(a: int, b: int) -> str:
    """The one format sums are written in; prompts end at 'A:' and the answer follows."""
    return f"Q: {a}+{b}= A: {a + b}"


def _story(rng: random.Random, name: str | None = None, animal: str | None = None) -> str:
    name = name or rng.choice(list(NAMES))
    he = NAMES[name]
    animal = animal or rng.choice(list(ANIMALS))
    place, thing = rng.choice(PLACES), rng.choice(OBJECTS)
    colour, friend = rng.choice(COLOURS), rng.choice(FRIENDS)
    lines = [
        rng.choice([f"Once upon a time, there was a {colour} {animal} named {name}.",
                    f"One day, {name} the {animal} went to the {place}.",
                    f"There was a little {animal} called {name}."]),
        f"{he.capitalize()} liked to {rng.choice(LIKES)} every day.",
        rng.choice([f"In the {place}, {he} found a {colour} {thing}.",
                    f"{name} saw a {thing} near the {place}.",
                    f"One morning, {he} found a {thing} under a tree."]),
        rng.choice([f"{name} showed the {thing} to {('his' if he == 'he' else 'her')} {friend}.",
                    f"{he.capitalize()} took the {thing} home.",
                    f"{name} wanted to keep the {thing}."]),
        rng.choice([f"The {friend} said, \"What a nice {thing}!\"",
                    f"They played with the {thing} all day.",
                    f"{name} felt very {rng.choice(FEELINGS)}."]),
        rng.choice(["The end.", f"{name} was {rng.choice(FEELINGS)} and went to sleep.",
                    f"From that day on, {name} loved the {place}."]),
    ]
    return " ".join(lines)


def _fact(rng: random.Random) -> str:
    kind = rng.randrange(5)
    if kind == 0:
        animal = rng.choice(list(ANIMALS))
        legs, sound = ANIMALS[animal]
        return rng.choice([f"A {animal} has {legs} legs.", f"A {animal} says {sound}."])
    if kind == 1:
        country = rng.choice(list(COUNTRIES))
        return f"The capital of {country} is {COUNTRIES[country]}."
    if kind == 2:
        thing = rng.choice(list(THINGS))
        return f"The {thing} is {THINGS[thing]}."
    if kind == 3:
        i = rng.randrange(7)
        return f"{DAYS[(i + 1) % 7]} comes after {DAYS[i]}."
    n = rng.randrange(1, 8)
    return "We count " + ", ".join(str(k) for k in range(n, n + 4)) + "."


def _chat(rng: random.Random) -> list[dict[str, str]]:
    messages = [{"role": "system", "content": rng.choice(SYSTEM_PROMPTS)}] if rng.random() < 0.4 else []
    kind = rng.randrange(4)
    if kind == 0:
        name, animal = rng.choice(list(NAMES)), rng.choice(list(ANIMALS))
        about = rng.choice([f"a {animal}", name])
        ask, answer = rng.choice(STORY_REQUESTS).format(x=about), _story(rng, name=name, animal=animal)
    elif kind == 1:
        country = rng.choice(list(COUNTRIES))
        ask, answer = f"What is the capital of {country}?", f"The capital of {country} is {COUNTRIES[country]}."
    elif kind == 2:
        animal = rng.choice(list(ANIMALS))
        ask, answer = f"How many legs does a {animal} have?", f"A {animal} has {ANIMALS[animal][0]} legs."
    else:
        a, b = rng.choice(_training_sums())
        ask, answer = f"What is {a}+{b}?", f"{a}+{b}={a + b}."
    return messages + [{"role": "user", "content": ask}, {"role": "assistant", "content": answer}]


@dataclass(frozen=True)
class Corpus:
    """Plain documents (end-of-text follows each once tokenized) and chats (rendered by the chat template)."""

    documents: list[str]
    chats: list[list[dict[str, str]]]


def make_corpus(seed: int = 0, documents: int = 24_000, chats: int = 3_000) -> Corpus:
    rng = random.Random(seed)
    sums = _training_sums()
    docs = []
    for _ in range(documents):
        roll = rng.random()
        if roll < 0.45:
            docs.append(_story(rng))
        elif roll < 0.65:
            docs.append(" ".join(_fact(rng) for _ in range(rng.randrange(2, 6))))
        else:
            docs.append("\n".join(sum_line(*rng.choice(sums)) for _ in range(rng.randrange(3, 8))))
    return Corpus(docs, [_chat(rng) for _ in range(chats)])


def vocabulary() -> set[str]:
    """Every lower-case word the corpus can contain; samples are judged against it."""
    corpus = make_corpus(seed=0, documents=4000, chats=1000)
    text = " ".join(corpus.documents) + " ".join(m["content"] for chat in corpus.chats for m in chat)
    return set(words(text)) | {w.lower() for w in NAMES} | {w.lower() for w in COUNTRIES.values()}


def words(text: str) -> list[str]:
    return re.findall(r"[a-z]+", text.lower())
