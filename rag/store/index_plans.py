"""Which vector index a collection of a given size gets, and the search parameters that go with it.

Pure policy, no pymilvus: `indexing.py` asks `plan_index` at open and on `rebuild_index`. The thresholds
come from `bench/scale.py` runs recorded in docs/BENCHMARKS.md (README "Index by size"):
FLAT is exact and its cost grows linearly with the rows, so it is kept while a top-5 search stays
under ~10 ms; beyond that Milvus Lite (which builds only FLAT, IVF_FLAT and AUTOINDEX) gets
IVF_FLAT, and a Milvus server gets HNSW.

Measured on Milvus Lite 2.5.1 at 100k rows with 1,000 workspaces: an approximate index asked for
the top 5 under a selective owner filter returned the true top 5 only 61% of the time, whatever the
`nprobe` (1 and 1,024 gave identical results) and for HNSW (AUTOINDEX) too; asked for the top 50,
its first 5 were the true top 5 99% of the time, at about the same latency. So approximate plans
fetch `candidates` hits and keep the best k (`rag.store.search`).

How many is enough depends on how many rows the filter keeps, not on `nprobe` (issue 24, measured on
Milvus Lite 2.5.1 with 100,000 rows, docs/BENCHMARKS.md): an owner keeping 100 of them reached
recall@5 0.99 with the top 50, an owner keeping 1,000 only 0.918 (0.95 with 100, 0.996 with 200),
and at 1M rows an owner keeping 1,000 got 0.876 from the top 50. So `candidates_for` asks for a
share of the rows the filter keeps when it keeps few of them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

# Rows up to which Milvus Lite keeps FLAT (measured: README "Index by size").
FLAT_MAX_ROWS = 20_000
# Hits an approximate index is asked for before the best k are kept (see above).
ANN_CANDIDATES = 50
# An IVF index is rebuilt only when its nlist is this far from the one planned for the current size,
# so a growing collection is not re-clustered on every open.
NLIST_REBUILD_FACTOR = 4
# With a selective filter, ask for this share of the rows it keeps (1,000 kept: the top 250)...
CANDIDATE_SHARE = 0.25
# ...but no more than this many: each candidate's fields come back with the hits.
MAX_CANDIDATES = 1000
HNSW_BUILD = {"M": 16, "efConstruction": 200}
HNSW_EF = 64  # at least: raised to the number of hits asked for (`IndexPlan.search_params_for`)


@dataclass(frozen=True)
class IndexPlan:
    """An index type with its build parameters and the search parameters used with it."""

    index_type: str
    build_params: dict[str, int] = field(default_factory=dict)
    search_params: dict[str, int] = field(default_factory=dict)
    candidates: int = 0  # hits to fetch before keeping the best k; 0: just k (exact indexes)

    def limit(self, k: int, kept: int = 0, rows: int = 0) -> int:
        """Hits to ask Milvus for to keep the best k: k for an exact index; for an approximate one
        `candidates`, or more when a filter keeps only `kept` of the collection's `rows`."""
        if not self.candidates:
            return k
        return max(k, candidates_for(self.candidates, kept, rows))

    def search_params_for(self, limit: int) -> dict[str, int]:
        """The search parameters for a search asking `limit` hits. A Milvus server refuses an HNSW
        search for more hits than its `ef` ("ef(64) should be larger than k(200)", knowhere's
        BaseHnswConfig), and a hybrid leg asks 4 × 50, an owner's search up to `MAX_CANDIDATES`:
        `ef` is raised to the limit (HNSW needs ef ≥ k to return k anyway)."""
        params = dict(self.search_params)
        if "ef" in params:
            params["ef"] = max(params["ef"], limit)
        return params

    def describe(self) -> str:
        build = ", ".join(f"{k}={v}" for k, v in self.build_params.items())
        search = ", ".join(f"{k}={v}" for k, v in self.search_params.items())
        text = self.index_type + (f" ({build})" if build else "")
        text += f" search {search}" if search else ""
        return text + (f", top {self.candidates} kept to k" if self.candidates else "")


def candidates_for(base: int, kept: int, rows: int) -> int:
    """Candidates for a search whose filter keeps `kept` of `rows` rows (0: not known, or no filter).

    `CANDIDATE_SHARE` of the rows kept, scaled down as the filter keeps more (a filter that keeps
    everything is no filter: the top `base` gave recall@5 1.000 at 1M rows), between `base` and
    `MAX_CANDIDATES`.
    """
    if kept <= 0 or rows <= 0 or kept >= rows:
        return base
    wanted = math.ceil(CANDIDATE_SHARE * kept * (1 - kept / rows))
    return int(min(MAX_CANDIDATES, max(base, wanted)))


# Training k-means costs rows × nlist: at 1M rows nlist 4,096 had not finished after 10 minutes on
# the Lite server here (and the client then hung), so nlist stops at 1,024; the 50 candidates keep recall.
NLIST_MAX = 1024


def nlist_for(rows: int) -> int:
    """About 4·√rows clusters (Milvus' and faiss' rule of thumb), a power of two in [64, NLIST_MAX]."""
    target = 4 * math.sqrt(max(rows, 1))
    return int(min(NLIST_MAX, max(64, 2 ** round(math.log2(target)))))


def nprobe_for(nlist: int) -> int:
    """Clusters probed per search: 1/16 of them (at least 16), the usual starting point on a server.

    Milvus Lite 2.5.1 returned the same hits for every nprobe we tried (bench/scale.py --nprobe).
    """
    return int(min(nlist, max(16, nlist // 16)))


def ivf_plan(nlist: int) -> IndexPlan:
    return IndexPlan("IVF_FLAT", {"nlist": nlist}, {"nprobe": nprobe_for(nlist)}, ANN_CANDIDATES)


def hnsw_plan() -> IndexPlan:
    return IndexPlan("HNSW", dict(HNSW_BUILD), {"ef": HNSW_EF}, ANN_CANDIDATES)


def plan_index(rows: int, lite: bool, forced: str = "", current: IndexPlan | None = None) -> IndexPlan:
    """The index for a collection of `rows` rows.

    `forced` (RAG_INDEX_TYPE) wins over the size rule. `current` is what the collection has now: it
    is kept while it is still close enough, because rebuilding an index releases the collection.
    """
    kind = forced.upper()
    if kind == "FLAT":
        return IndexPlan(kind)
    if kind == "AUTOINDEX":
        return IndexPlan(kind, candidates=ANN_CANDIDATES)
    if kind == "HNSW" or (not kind and not lite):
        return hnsw_plan()
    if not kind and rows < FLAT_MAX_ROWS and not (current and current.index_type == "IVF_FLAT"):
        return IndexPlan("FLAT")
    if not kind and rows < FLAT_MAX_ROWS // 2:  # hysteresis: back to FLAT only well below the threshold
        return IndexPlan("FLAT")
    if kind and kind != "IVF_FLAT":
        return IndexPlan(kind, candidates=ANN_CANDIDATES)  # another server index type: Milvus' defaults
    wanted = nlist_for(rows)
    if current and current.index_type == "IVF_FLAT":
        have = current.build_params.get("nlist", 0)
        if have and max(have, wanted) / max(min(have, wanted), 1) < NLIST_REBUILD_FACTOR:
            return ivf_plan(have)
    return ivf_plan(wanted)
