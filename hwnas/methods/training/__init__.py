"""Supervised training: the shared epoch loop (DARTS, NES) and `hwnas train`'s trainer.

`train_epochs` is the small loop the DARTS retraining and NES members use. The trainer that
makes deployable models (DataLoader, augmentation, schedules, AMP, checkpoints, DDP) lives in
`hwnas.methods.training.loop`; import it from there (this package's import stays light).
"""

from hwnas.methods.training.epochs import train_epochs

__all__ = ["train_epochs"]
