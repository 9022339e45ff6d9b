"""How well the follow-up gate and ordering generalise: k-fold cross-validation over the dev sets.

    RAG_DATA_DIR=/tmp/x RAG_EMBED_MODEL=packaged HF_HUB_OFFLINE=1 \\
        .venv/bin/python bench/followup_cv.py [folds] [repeats] [mode]

The gate's thresholds (rag/retrieval/query.py) were chosen on the same 25 follow-ups they were
scored on (dev 0.92, a held-out set 0.84), so the dev figure is optimistic. Here every point of a
small grid (threshold-free rules first: never / always join, join when the joined text finds
anything closer; then VAGUE, CONFIDENT, GAIN_NONE, GAIN_FULL, KEYWORD_GATE, BY_DOCUMENT around the
current values) is scored per question through the real `Library.retrieve`. Then, per fold, the
point with the best training score (follow-up hit@5 + hit@5 after an unrelated question, then the
two MRR@5; ties go to the earlier point, the current defaults first) is scored on the held-out
fold: the conversations and the single-turn questions are split into the same number of folds.
Folds are reshuffled `repeats` times (seeded). The pooled held-out figure is what tuning on these
sets is worth on unseen conversations; a fixed rule's figure is its plain dev figure.

The ordering within a document (`BEST_HITS_FIRST`: each document's best hit first, or whole groups
as before) is compared in the same run: the grid scored with each, and the two grids together (the
folds choose the ordering too).

Embeddings, best-match look-ups and searches are cached per input (the code under test is pure
given them), so the grid costs one search per distinct query vector. The collection must already
hold the corpus (`python -m rag ingest` or `rag eval --corpus ...`).
"""

from __future__ import annotations

import itertools
import random
import statistics
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

from rag.evaluate import read_questions, reciprocal_rank, unrelated_question
from rag.retrieval import query
from rag.retrieval.library import Library
from rag.settings import Settings
from rag.types import SHARED_OWNER
from rag.workspace.owners import visible_owners

EVAL = Path(__file__).resolve().parents[2] / "shared" / "eval"
K = 5
NEVER = {"VAGUE": -2.0, "CONFIDENT": -1.0, "GAIN_NONE": 98.0, "GAIN_FULL": 99.0}
RULES = {  # rules with no tuned threshold
    "never join (question alone)": NEVER,
    "always join (gate 1)": {"VAGUE": 2.0, "CONFIDENT": 3.0},
    "join when the joined text finds closer (gain > 0)": {**NEVER, "GAIN_NONE": 0.0, "GAIN_FULL": 1e-6},
}
AXES = {  # the tuned grid, around the current values
    "VAGUE": (0.40, 0.45, 0.50),
    "CONFIDENT": (0.60, 0.65, 0.70),
    "GAIN_NONE": (0.0, 0.05, 0.10),
    "GAIN_FULL": (0.15, 0.20, 0.25, 0.30),
    "KEYWORD_GATE": (0.2, 0.5, 0.8),
    "BY_DOCUMENT": (True, False),
}


@dataclass(frozen=True)
class Item:
    """One scored search: a follow-up with its conversation, or a first question after an unrelated one."""

    group: int  # the conversation / question index: folds split by it
    kind: str  # "followup" or "distracted"
    question: str
    history: tuple[str, ...]
    gold: tuple[str, ...]


def items() -> list[Item]:
    """The follow-ups of the follow-up dev set and the single-turn dev set after an unrelated question."""
    out = []
    for index, conversation in enumerate(read_questions(EVAL / "milvus_docs_followups_dev.jsonl")):
        turns = conversation.turns
        for number in range(1, len(turns)):
            history = tuple(t.question for t in turns[:number])
            out.append(
                Item(index, "followup", turns[number].question, history, tuple(turns[number].gold_sources))
            )
    single = read_questions(EVAL / "milvus_docs_dev.jsonl")
    for index, conversation in enumerate(single):
        if earlier := unrelated_question(single, index):
            turn = conversation.turns[0]
            out.append(Item(index, "distracted", turn.question, (earlier,), tuple(turn.gold_sources)))
    return out


ORDERINGS = {  # BEST_HITS_FIRST: the grid is scored with each (the module's value first)
    "each document's best hit first": {"BEST_HITS_FIRST": True},
    "whole groups (before)": {"BEST_HITS_FIRST": False},
}


def grid(fixed: dict | None = None) -> list[tuple[str, dict]]:
    """(name, overrides): the current code first, the threshold-free rules, then the tuned grid,
    each with the `fixed` overrides too."""
    fixed = fixed or {}
    points = [("current defaults", {})] + [(name, o) for name, o in RULES.items()]
    for values in itertools.product(*AXES.values()):
        overrides = dict(zip(AXES, values, strict=True))
        if overrides["VAGUE"] < overrides["CONFIDENT"] and overrides["GAIN_NONE"] < overrides["GAIN_FULL"]:
            points.append((" ".join(f"{n}={v}" for n, v in overrides.items()), overrides))
    return [(name, {**overrides, **fixed}) for name, overrides in points]


def memo(function: Callable, key: Callable) -> Callable:
    """`function` answering repeated inputs from a dict (by `key` of the arguments)."""
    seen: dict = {}

    def cached(*args, **kwargs):
        name = key(*args, **kwargs)
        if name not in seen:
            seen[name] = function(*args, **kwargs)
        return seen[name]

    return cached


def cache(library: Library) -> None:
    """Cache the embedder and the store's look-ups on this instance (inputs are hashed exactly)."""
    library.embedder.embed_queries = memo(library.embedder.embed_queries, lambda texts: tuple(texts))
    library.store.closest = memo(
        library.store.closest,
        lambda v, owners, doc_ids=None: (b"".join(x.tobytes() for x in v), tuple(owners)),
    )
    library.store.search = memo(
        library.store.search,
        lambda v, text, k, owners, doc_ids=None, mode="hybrid": (
            None if v is None else v.tobytes(),
            text,
            k,
            tuple(owners),
            mode,
        ),
    )


def score(library: Library, questions: list[Item], overrides: dict, mode: str) -> list[float]:
    """Reciprocal rank@K of every item with `overrides` applied to rag/retrieval/query.py."""
    defaults = {name: getattr(query, name) for name in overrides}
    for name, value in overrides.items():
        setattr(query, name, value)
    try:
        owners = visible_owners(SHARED_OWNER)
        return [
            reciprocal_rank(
                library.retrieve(i.question, owners, k=K, history=i.history, mode=mode).hits, list(i.gold)
            )
            for i in questions
        ]
    finally:
        for name, value in defaults.items():
            setattr(query, name, value)


def figures(rr: list[float], questions: list[Item], chosen: set[int]) -> tuple[float, float, float, float]:
    """(follow-up hit, follow-up MRR, distracted hit, distracted MRR) over the items at `chosen`."""
    out = []
    for kind in ("followup", "distracted"):
        ranks = [rr[n] for n in chosen if questions[n].kind == kind]
        out += [sum(r > 0 for r in ranks) / len(ranks), sum(ranks) / len(ranks)] if ranks else [0.0, 0.0]
    return tuple(out)


def both(f: tuple[float, ...], floor: float) -> tuple:
    """Both hit rates, then both MRRs: the gate trades follow-ups against new questions."""
    return (round(f[0] + f[2], 9), round(f[1] + f[3], 9))


def followups_first(f: tuple[float, ...], floor: float) -> tuple:
    """Follow-ups' hit rate, then their MRR, among points that keep a new question after an
    unrelated one at the question-alone hit rate (`floor`), then that question's MRR."""
    return (f[2] >= floor - 1e-9, round(f[0], 9), round(f[1], 9), round(f[3], 9))


OBJECTIVES = {"both": both, "follow-ups first, no drop": followups_first}
Objective = Callable[[tuple[float, ...], float], tuple]


def folds_of(questions: list[Item], folds: int, seed: int) -> list[set[int]]:
    """Item indices per fold: each kind's groups (conversations, questions) shuffled and dealt out."""
    out: list[set[int]] = [set() for _ in range(folds)]
    for kind in ("followup", "distracted"):
        groups = sorted({q.group for q in questions if q.kind == kind})
        random.Random(seed).shuffle(groups)
        fold_of = {g: n % folds for n, g in enumerate(groups)}
        for n, q in enumerate(questions):
            if q.kind == kind:
                out[fold_of[q.group]].add(n)
    return out


def choose(questions: list[Item], scores: list[list[float]], chosen: set[int], objective: Objective) -> int:
    """The grid point with the best `objective` over the items at `chosen` (ties: the earlier point)."""
    floor = figures(scores[1], questions, chosen)[2]  # point 1: never join (the question alone)
    return max(
        range(len(scores)), key=lambda p: (objective(figures(scores[p], questions, chosen), floor), -p)
    )


def cross_validate(
    questions: list[Item], scores: list[list[float]], folds: int, seed: int, objective: Objective
) -> tuple[list[float], list[int]]:
    """Held-out reciprocal ranks of the tuning procedure (pooled over folds) and the point chosen per fold."""
    held_out = [0.0] * len(questions)
    chosen = []
    every = set(range(len(questions)))
    for test in folds_of(questions, folds, seed):
        best = choose(questions, scores, every - test, objective)
        chosen.append(best)
        for n in test:
            held_out[n] = scores[best][n]
    return held_out, chosen


def row(name: str, f: tuple[float, ...]) -> str:
    return f"| {name} | {f[0]:.3f} / {f[1]:.3f} | {f[2]:.3f} / {f[3]:.3f} |"


def main() -> None:
    folds = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    repeats = int(sys.argv[2]) if len(sys.argv) > 2 else 20
    mode = sys.argv[3] if len(sys.argv) > 3 else "hybrid"
    library = Library.open(Settings.from_env())
    cache(library)
    questions = items()
    grids = {name: grid(fixed) for name, fixed in ORDERINGS.items()}
    scores = {name: score_grid(library, questions, points, mode) for name, points in grids.items()}
    library.close()
    together = "both orderings (the folds choose it too)"  # the module's ordering first: it wins ties
    grids[together] = [p for name in ORDERINGS for p in grids[name]]
    scores[together] = [s for name in ORDERINGS for s in scores[name]]
    n_fu = sum(q.kind == "followup" for q in questions)
    print(
        f"{mode}, {n_fu} follow-ups, {len(questions) - n_fu} questions after an unrelated one, "
        f"{len(grids[together]) // 2} grid points per ordering, {folds}-fold CV x {repeats} shuffles\n"
    )
    rows: list[str] = []
    details: list[str] = []
    for ordering, points in grids.items():
        dev = [figures(s, questions, set(range(len(questions)))) for s in scores[ordering]]
        rows += [f"| **{ordering}** | | |", row("current thresholds (its dev figure)", dev[0])]
        rows += [
            row(f"{points[n][0]} (no tuned threshold: dev = CV)", dev[n]) for n in range(1, len(RULES) + 1)
        ]
        for name, objective in OBJECTIVES.items():
            more_rows, more_details = report(
                questions, scores[ordering], points, dev, (folds, repeats), name, objective
            )
            rows += more_rows
            details += [f"\n{ordering}:", *more_details] if ordering == together else []
    print("| procedure | follow-ups hit@5 / MRR@5 | after an unrelated question hit@5 / MRR@5 |")
    print("|---|---|---|")
    print("\n".join(rows + details))


def score_grid(library: Library, questions: list[Item], points: list[tuple[str, dict]], mode: str) -> list:
    """Reciprocal ranks of every item at every grid point."""
    scores = []
    for n, (_, overrides) in enumerate(points):
        scores.append(score(library, questions, overrides, mode))
        if n % 100 == 0:
            print(f"scored {n + 1}/{len(points)} points", file=sys.stderr, flush=True)
    return scores


def report(questions, scores, points, dev, cv: tuple[int, int], name: str, objective: Objective):
    """Table rows of one tuning objective (best on all of dev, the CV figure), and what the folds chose."""
    folds, repeats = cv
    every = set(range(len(questions)))
    best = choose(questions, scores, every, objective)
    runs, picks = [], []
    for seed in range(repeats):
        held_out, chosen = cross_validate(questions, scores, folds, seed, objective)
        runs.append(figures(held_out, questions, every))
        picks += chosen
    mean = tuple(statistics.mean(r[i] for r in runs) for i in range(4))
    rows = [
        row(f"{name}: best on all of dev (optimistic): {points[best][0]}", dev[best]),
        row(f"**{name}: tuned on the other folds (CV, mean of {repeats} shuffles)**", mean),
    ]
    low, high = [min(r[i] for r in runs) for i in range(4)], [max(r[i] for r in runs) for i in range(4)]
    details = [
        f"\n{name}: CV over shuffles: follow-ups hit@5 {low[0]:.3f}-{high[0]:.3f}, "
        f"MRR@5 {low[1]:.3f}-{high[1]:.3f}; after unrelated hit@5 {low[2]:.3f}-{high[2]:.3f}, "
        f"MRR@5 {low[3]:.3f}-{high[3]:.3f}",
        f"{name}: points chosen in the {len(picks)} folds (count: dev follow-ups, after unrelated):",
    ]
    for p, count in sorted(((p, picks.count(p)) for p in set(picks)), key=lambda x: -x[1])[:8]:
        f = dev[p]
        details.append(f"- {count:3d} x {points[p][0]}: {f[0]:.3f} / {f[1]:.3f}, {f[2]:.3f} / {f[3]:.3f}")
    for axis in [*AXES, "BEST_HITS_FIRST"]:
        values = [points[p][1].get(axis, getattr(query, axis)) for p in picks]
        details.append(
            f"  {axis}: " + ", ".join(f"{v} x{values.count(v)}" for v in sorted(set(values), key=str))
        )
    return rows, details


if __name__ == "__main__":
    main()
