"""The pool of NES: independently trained base learners, each saved as a resumable member.

`build_pool` trains the members of a list of specifications (here or on Ray) and skips those
already finished; what a member is and how its folder is written is `hwnas.methods.nes.member`
(re-exported here).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from hwnas.core.serialize import to_json
from hwnas.methods.nes.backends import train_and_save, train_on_ray
from hwnas.methods.nes.member import (
    BACKENDS,
    FORMAT,
    FORMAT_VERSION,
    MEMBER_FILE,
    PREDICTIONS_FILE,
    WEIGHTS_FILE,
    MemberSpec,
    PoolData,
    PoolError,
    PoolMember,
    build_member,
    check_pool_space,
    is_finished,
    load_member,
    load_predictions,
    parse_member_arch,
    pool_spaces,
    read_member_json,
    read_pool_member,
    save_member,
    split_validation,
)
from hwnas.methods.nes.train import TrainConfig

__all__ = [
    "BACKENDS",
    "build_member",
    "build_pool",
    "check_pool_space",
    "FORMAT",
    "FORMAT_VERSION",
    "is_finished",
    "load_member",
    "load_predictions",
    "MEMBER_FILE",
    "MemberSpec",
    "parse_member_arch",
    "pool_spaces",
    "PoolBuild",
    "PoolData",
    "PoolError",
    "PoolMember",
    "PREDICTIONS_FILE",
    "read_member_json",
    "read_pool_member",
    "save_member",
    "split_validation",
    "WEIGHTS_FILE",
]


@dataclass(frozen=True)
class PoolBuild:
    """What `build_pool` did: the members it trained and those it found finished."""

    trained: tuple[str, ...]
    skipped: tuple[str, ...]
    members: tuple[PoolMember, ...] = field(repr=False)


def build_pool(
    specs: Sequence[MemberSpec],
    data: PoolData,
    train_config: TrainConfig,
    out_dir: str | Path,
    backend: str = "local",
    on_member: Callable[[PoolMember, bool], None] | None = None,
) -> PoolBuild:
    """Trains and saves every spec whose member is not finished in `out_dir`.

    Args:
        specs: The members, in order; duplicates are trained once.
        backend: ``local`` (one after the other, in this process) or ``ray`` (one task per
            member with ``num_cpus=1`` on the running Ray instance, or a local one started
            here; each member is saved by this process as its result arrives).
        on_member: Called with each member and whether it was trained now, as it is ready.

    Returns:
        The members in the order of `specs` (duplicates once).

    Raises:
        PoolError: for an unknown backend or a member that does not fit the data.
    """
    if backend not in BACKENDS:
        raise PoolError(f"unknown backend {backend!r}; expected one of {', '.join(BACKENDS)}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for stale in out_dir.glob(".*.*"):
        if stale.is_dir():  # the staging directory of a build that was killed
            shutil.rmtree(stale, ignore_errors=True)
    unique = list(dict.fromkeys(specs))
    for spec in unique:
        if spec.input_shape != data.input_shape or spec.num_classes != data.num_classes:
            raise PoolError(
                f"member {spec.id} is for input {spec.input_shape} and {spec.num_classes} "
                f"classes, but the data has {data.input_shape} and {data.num_classes}"
            )
    done: dict[str, PoolMember] = {}
    skipped = [s for s in unique if is_finished(out_dir / s.id)]
    for spec in skipped:
        _check_resumable(out_dir / spec.id, train_config, data)
        done[spec.id] = read_pool_member(out_dir, spec.id)
        if on_member:
            on_member(done[spec.id], False)
    todo = [s for s in unique if s.id not in done]
    trained = []

    def arrived(spec: MemberSpec) -> None:
        trained.append(spec.id)
        done[spec.id] = read_pool_member(out_dir, spec.id)
        if on_member:
            on_member(done[spec.id], True)

    if backend == "ray" and todo:
        train_on_ray(todo, data, train_config, out_dir, arrived)
    else:
        for spec in todo:
            train_and_save(spec, data, train_config, out_dir)
            arrived(spec)
    return PoolBuild(
        tuple(trained), tuple(s.id for s in skipped), tuple(done[s.id] for s in unique)
    )


def _check_resumable(member_dir: Path, train_config: TrainConfig, data: PoolData) -> None:
    """Refuses to reuse a finished member trained with other settings or on other data."""
    meta = read_member_json(member_dir)
    settings = to_json(train_config, versioned=False)
    if meta.get("train") != settings:
        raise PoolError(
            f"{member_dir} was trained with {meta.get('train')}, not {settings}: "
            "a pool is resumed with the settings it was started with; use another output "
            "folder for other settings"
        )
    if meta.get("data") != data.fingerprint:
        raise PoolError(
            f"{member_dir} was trained on other data (fingerprint {meta.get('data')}, now "
            f"{data.fingerprint}): a pool is resumed on the same data set, split, seed and "
            "training-image cap; use another output folder"
        )
