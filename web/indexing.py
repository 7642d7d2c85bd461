"""Re-indexing in the background, with progress a curator can watch."""

from __future__ import annotations

import threading
import time
from dataclasses import asdict, dataclass, field

from indexer.build import update_index
from kb.errors import Conflict, KBError


@dataclass
class JobState:
    running: bool = False
    stage: str = ""
    done: int = 0
    total: int = 0
    started: float = 0.0
    finished: float = 0.0
    error: str = ""
    report: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


class IndexJob:
    """At most one build at a time; the state is readable while it runs."""

    def __init__(self, kb):
        self.kb = kb
        self.state = JobState()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._again = False

    def progress(self, stage: str, done: int, total: int) -> None:
        self.state.stage, self.state.done, self.state.total = stage, done, total

    def start(self) -> bool:
        """Start a build; if one is running, run once more after it (it may have read the library
        before the latest change). Returns whether a new build was started right away."""
        with self._lock:
            if self.state.running:
                self._again = True
                return False
            self._again = False
            self.state = JobState(running=True, stage="准备", started=time.time())
            self._thread = threading.Thread(target=self._run, name="kb-index", daemon=True)
            self._thread.start()
            return True

    def _run(self) -> None:
        while True:
            try:
                report = update_index(self.kb, progress=self.progress)
                self.state.report, self.state.error = report.to_dict(), ""
            except Conflict:
                self.state.error = "另一个索引任务正在进行，请稍后再试"
            except KBError as exc:
                self.state.error = exc.message
            except Exception as exc:  # noqa: BLE001 - a failed build is shown to the curator, the old index serves
                self.state.error = f"索引失败：{type(exc).__name__}: {exc}"
            with self._lock:
                if not self._again:
                    self.state.running = False
                    self.state.finished = time.time()
                    return
                self._again = False

    def wait(self, timeout: float = 120) -> JobState:
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
        return self.state
