"""The objects a running product shares (library, vocabulary, embedder, searcher), built lazily."""

from __future__ import annotations

import datetime as dt
import functools
import threading
import time
from collections import OrderedDict

from kb.calendar import Calendar, load_calendar
from kb.embed import Embedder, get_embedder
from kb.gaps import is_weak
from kb.kit import Kit, KitBuilder, Order
from kb.library import Library, load_library
from kb.search import Searcher
from kb.settings import Settings
from kb.store import LoggedKit, Rating, Store
from kb.vocab import Vocabulary

RATINGS_SECONDS = 30
KIT_CACHE = 1024


class Activity:
    """Requests this process is serving right now (the web app counts them)."""

    def __init__(self):
        self.count = 0
        self._lock = threading.Lock()

    def __enter__(self) -> Activity:
        with self._lock:
            self.count += 1
        return self

    def __exit__(self, *exc) -> None:
        with self._lock:
            self.count -= 1


class KB:
    """One per process: what the CLI commands and the web app both stand on."""

    def __init__(self, settings: Settings | None = None, *, embedder: Embedder | None = None):
        self.settings = settings or Settings()
        self.activity = Activity()
        self._embedder = None if embedder is None else self._counted(embedder)
        self._lock = threading.RLock()
        self._library: Library | None = None
        self._ratings: tuple[float, dict[str, Rating], int] | None = None
        self._kits: OrderedDict = OrderedDict()

    @property
    def embedder(self) -> Embedder:
        with self._lock:
            if self._embedder is None:
                s = self.settings
                self._embedder = self._counted(get_embedder(s.embedder, s.model, s.threads))
            return self._embedder

    def _counted(self, embedder: Embedder) -> Embedder:
        """Tell the embedder how busy the process is: the request asking for a query vector is
        itself one of those in flight."""
        embedder.busy = lambda: max(0, self.activity.count - 1)
        return embedder

    @functools.cached_property
    def vocab(self) -> Vocabulary:
        return self.library().vocab

    @functools.cached_property
    def calendar(self) -> Calendar:
        return load_calendar(self.settings.library, self.vocab)

    def library(self, *, reload: bool = False) -> Library:
        """The library as last read; ``reload`` re-reads the folder (after a curator's change)."""
        with self._lock:
            if self._library is None or reload:
                self._library = load_library(self.settings.library)
            return self._library

    @functools.cached_property
    def searcher(self) -> Searcher:
        return Searcher(self.settings.index_root, self.embedder, self.vocab)

    @functools.cached_property
    def store(self) -> Store:
        return Store(self.settings.db_path)

    def ratings(self) -> dict[str, Rating]:
        """Smoothed ratings, re-read at most every RATINGS_SECONDS (they move slowly; reading them is not free)."""
        return self._rated()[0]

    def _rated(self) -> tuple[dict[str, Rating], int]:
        """The ratings and a version that changes only when they do (kits are cached per version)."""
        with self._lock:
            now = time.monotonic()
            if self._ratings is None or now - self._ratings[0] > RATINGS_SECONDS:
                fresh = self.store.ratings()
                version = hash(tuple(sorted((d, r.count, r.smoothed) for d, r in fresh.items())))
                self._ratings = (now, fresh, version)
            return self._ratings[1], self._ratings[2]

    def kit_builder(self) -> KitBuilder:
        return KitBuilder(self.searcher, self.library(), self.calendar, self.ratings())

    def order(self, order: Order, *, today: dt.date | None = None, log: bool = True,
              user: str | None = None) -> Kit:
        """Build the kit for an order and log it (the curators' demand report reads the log).

        Kits are deterministic, so a kit is reused while the index, the ratings and the day are the same."""
        when = today or dt.date.today()
        ratings, version = self._rated()
        key = (order.key(), when, self.searcher.index().build.name, version)
        with self._lock:
            cached = self._kits.get(key)
            if cached is not None:
                self._kits.move_to_end(key)
        if cached is None:
            kit = KitBuilder(self.searcher, self.library(), self.calendar, ratings).build(order, today=when)
            cached = (kit, LoggedKit.of(kit.to_dict()), is_weak(kit))  # serialised once, logged with every order
            with self._lock:
                self._kits[key] = cached
                while len(self._kits) > KIT_CACHE:
                    self._kits.popitem(last=False)
        kit, logged, weak = cached
        if log:
            self.store.log_order(order.text, kit.order, logged, kit.understood["themes"],
                                 weak=weak, unmet=kit.notes, user=user)
        return kit
