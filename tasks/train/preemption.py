"""Preemption: SIGTERM (Slurm, Kubernetes, spot instances) and SIGINT stop training cleanly.

While :func:`stop_on_signals` is active (the engine's ``fit``, main thread only:
Python delivers signals there), the first SIGTERM or SIGINT only sets a flag.
The engine finishes the step it is in, writes a checkpoint and returns a
summary marked ``interrupted``; the flow records the run as ``interrupted``
and raises :class:`TrainingInterrupted`, so that nothing after it (the next
stage) runs. Rerunning the same settings resumes exactly. A second SIGINT
(Ctrl-C twice) raises ``KeyboardInterrupt`` at once. The previous handlers are
restored when training ends.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator

SIGNALS = (signal.SIGTERM, signal.SIGINT)


class TrainingInterrupted(Exception):
    """Training stopped on a signal after writing a checkpoint; rerun to resume."""

    def __init__(self, summary: dict):
        self.summary = summary
        self.signum = int(summary.get("interrupted_by_signum") or signal.SIGTERM)
        super().__init__(
            f"{summary['interrupted']} at step {summary['final_step']} of "
            f"{summary.get('total_steps')}: checkpoint {summary.get('final_checkpoint')}; "
            "run the same command again to resume"
        )

    @property
    def exit_code(self) -> int:
        """The shell's convention for a process ended by a signal: 128 + its number."""
        return 128 + self.signum


class StopFlag:
    """Set by the handler; read by the training loop after every step."""

    def __init__(self) -> None:
        self.signum: int | None = None

    @property
    def requested(self) -> bool:
        return self.signum is not None

    @property
    def name(self) -> str | None:
        return signal.Signals(self.signum).name if self.signum is not None else None


@contextlib.contextmanager
def stop_on_signals(flag: StopFlag, *, log=print) -> Iterator[bool]:
    """Route SIGTERM and SIGINT to ``flag``; yields whether the handlers are installed."""
    if threading.current_thread() is not threading.main_thread():
        yield False  # signal.signal only works in the main thread (e.g. not in Ray Train workers)
        return

    def handler(signum, frame):
        if flag.requested and signum == signal.SIGINT:
            raise KeyboardInterrupt  # a second Ctrl-C: stop now, without a checkpoint
        if not flag.requested:
            flag.signum = signum
            log(
                f"[train] {signal.Signals(signum).name}: finishing the current step, "
                "then a checkpoint and exit (Ctrl-C again to abort without one)"
            )

    previous = {sig: signal.signal(sig, handler) for sig in SIGNALS}
    try:
        yield True
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def ignore_stop_signals(_worker_id: int | None = None) -> None:
    """In DataLoader workers: a signal sent to the whole process group (Ctrl-C, a job
    scheduler) must not kill them mid-step; they end with the trainer."""
    for sig in SIGNALS:
        signal.signal(sig, signal.SIG_IGN)
