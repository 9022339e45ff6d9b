"""How many chunk rows a search filter keeps, remembered for a while.

An approximate index is asked for more candidates when the filter keeps few rows
(`index_plans.candidates_for`); counting before every search would add a round trip to each (a
`count(*)` took 2-3 ms on Milvus Lite), so a count is reused for `SIZE_TTL_S`. A count that is a
little old only makes a search look a little less or more deep, never shows a hidden row.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from pymilvus import MilvusClient, MilvusException

from rag.store import rows as r

log = logging.getLogger(__name__)
SIZE_TTL_S = 30.0
MAX_FILTERS = 4096  # filters remembered; beyond, the table starts again


class FilterSizes:
    """Row counts by filter for one chunk collection; shared by threads."""

    def __init__(
        self, client: MilvusClient, collection: str, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.client = client
        self.collection = collection
        self.clock = clock
        self._sizes: dict[str, tuple[int, float]] = {}
        self._lock = threading.Lock()

    def rows(self, flt: str) -> int:
        """Rows matching `flt` (counted at most `SIZE_TTL_S` ago); 0 when they can't be counted."""
        now = self.clock()
        with self._lock:
            known = self._sizes.get(flt)
        if known and now - known[1] < SIZE_TTL_S:
            return known[0]
        try:
            size = r.count(self.client, self.collection, flt)
        except MilvusException as exc:  # the search itself will say what is wrong
            log.warning("could not count the rows of %s for %s: %s", self.collection, flt, exc)
            return 0
        with self._lock:
            if len(self._sizes) >= MAX_FILTERS:
                self._sizes.clear()
            self._sizes[flt] = (size, now)
        return size
