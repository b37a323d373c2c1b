"""Progress of a training: a rich bar per epoch on a terminal, one plain line per epoch else."""

from __future__ import annotations

import sys
from typing import Any


class EpochProgress:
    """The reporter `fit` calls: `start_epoch`, `step` after each batch, `end_epoch`.

    On a terminal, a rich progress bar per epoch (batches, loss, images/s, then the
    validation accuracy); elsewhere (logs, CI) one line per epoch on stderr.
    """

    def __init__(self, label: str = "train") -> None:
        from rich.console import Console

        self.label = label
        self.console = Console(stderr=True)
        self._bar = None
        self._task = None

    def start_epoch(self, epoch: int, epochs: int, steps: int) -> None:
        if not self.console.is_terminal:
            return
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

        self._bar = Progress(
            TextColumn(f"{self.label} epoch {epoch}/{epochs}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[info]}"),
            console=self.console,
            transient=False,
        )
        self._task = self._bar.add_task("epoch", total=steps, info="")
        self._bar.start()

    def step(self, done: int, loss: float, images_per_s: float) -> None:
        if self._bar is not None:
            info = f"loss {loss:.4f}  {images_per_s:,.0f} img/s"
            self._bar.update(self._task, completed=done, info=info)

    def end_epoch(self, record: dict[str, Any]) -> None:
        line = (
            f"loss {record['train_loss']:.4f}  val {record['val_accuracy']:.2f} %  "
            f"{record['images_per_s']:,.0f} img/s  {record['seconds']:.1f} s"
        )
        if self._bar is not None:
            self._bar.update(self._task, info=line)
            self._bar.stop()
            self._bar = None
            return
        print(f"{self.label} epoch {record['epoch']}/{record['epochs']}: {line}", file=sys.stderr)
        sys.stderr.flush()

    def note(self, message: str) -> None:
        """A one-line message (resumed from epoch N, ...)."""
        print(f"{self.label}: {message}", file=sys.stderr, flush=True)


class SilentProgress:
    """A reporter that shows nothing (library use, other ranks of a distributed run)."""

    def start_epoch(self, epoch: int, epochs: int, steps: int) -> None:
        pass

    def step(self, done: int, loss: float, images_per_s: float) -> None:
        pass

    def end_epoch(self, record: dict[str, Any]) -> None:
        pass

    def note(self, message: str) -> None:
        pass
