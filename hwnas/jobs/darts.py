"""The `hwnas darts` jobs: search and save, train a genotype and export it.

`search_job` writes to its output folder:

- `genotype.json` (cell spaces) or `arch.json` (nb201): the found architecture;
- `eigenvalues.json`: every epoch's record (eigenvalue, accuracies, L2 factor, architecture);
- `events.json`: every DARTS-ES / DARTS-ADA decision;
- `eigenvalues.png`: the eigenvalue trajectory (and table accuracy for nb201), one line per
  ADA run, rollbacks marked;
- `config.json`: the settings.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from hwnas.core.datasets import Dataset, split_for_search
from hwnas.core.serialize import to_json
from hwnas.core.spaces import create_space
from hwnas.errors import InputError


def _json(path: Path, value) -> Path:
    path.write_text(json.dumps(value, indent=2, allow_nan=True) + "\n", encoding="utf-8")
    return path


def plot_trajectory(records, events, path: Path, title: str) -> Path:
    """The eigenvalue per epoch (one line per run) and, where known, the table accuracy."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    has_table = any(r.table_accuracy is not None for r in records)
    fig, axes = plt.subplots(
        2 if has_table else 1, 1, figsize=(7, 6 if has_table else 3.5), squeeze=False
    )
    for run in sorted({r.run for r in records}):
        rows = [r for r in records if r.run == run]
        label = f"run {run} (L2 {rows[0].weight_decay:.1e})"
        axes[0, 0].plot(
            [r.epoch for r in rows], [r.eigenvalue for r in rows], marker="o", label=label
        )
        if has_table:
            axes[1, 0].plot(
                [r.epoch for r in rows], [r.table_accuracy for r in rows], marker="o", label=label
            )
    for event in events:
        if event["action"] in ("rollback_increase_l2", "early_stop_rollback"):
            axes[0, 0].axvline(event["rollback_epoch"], color="red", linestyle=":", linewidth=1)
    axes[0, 0].set_ylabel("dominant eigenvalue of Hessian (alphas)")
    axes[0, 0].set_title(title)
    axes[0, 0].legend(fontsize=7)
    if has_table:
        axes[1, 0].set_ylabel("table CIFAR-10 test acc. (%)")
        axes[1, 0].legend(fontsize=7)
    axes[-1, 0].set_xlabel("epoch")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def save_search(result, out_dir: str | Path) -> dict[str, Path]:
    """Writes a `SearchResult` (see the module docstring); returns the paths written."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {}
    space = create_space(result.config.space)
    if space.has_table:  # a cell of a benchmark table: its row and the table's accuracy
        arch = {
            "space": space.name,
            "arch": str(result.arch),
            space.index_column: space.table_index(result.arch),
            "cifar10_test_acc_table": result.table_accuracy,
            "epoch": result.arch_epoch,
        }
        paths["arch"] = _json(out_dir / "arch.json", arch)
    else:  # a DARTS genotype
        paths["arch"] = result.arch.save(out_dir / "genotype.json")
    paths["eigenvalues"] = _json(out_dir / "eigenvalues.json", [asdict(r) for r in result.records])
    paths["events"] = _json(out_dir / "events.json", list(result.events))
    paths["config"] = _json(out_dir / "config.json", to_json(result.config, versioned=False))
    title = f"DARTS ({result.config.mode}) on {result.config.space}"
    paths["plot"] = plot_trajectory(
        result.records, result.events, out_dir / "eigenvalues.png", title
    )
    return paths


def search_job(
    config, dataset: Dataset, out_dir: str | Path, max_images: int | None = None, on_epoch=None
):
    """Splits `dataset.train` in halves, runs the search and saves it; returns (result, paths)."""
    from hwnas.methods.darts.search import run_search

    train, valid = split_for_search(dataset.train, max_images, config.seed)
    if min(len(train), len(valid)) < config.batch_size:
        raise InputError(
            f"the search splits its {len(train) + len(valid)} training images into halves of "
            f"{len(train)} and {len(valid)}, fewer than --batch-size {config.batch_size}: no "
            "step would run; raise --max-images to at least twice the batch size, or lower "
            "--batch-size"
        )
    result = run_search(config, train, valid, on_epoch)
    return result, save_search(result, out_dir)


def train_job(
    genotype, dataset: Dataset, config, out_dir: str | Path, max_images: int | None = None
):
    """Trains `genotype` from scratch, saves it, exports it to ONNX and checks it.

    Returns the report dict, also written to `out_dir/report.json`.
    """
    from hwnas.methods.darts.network import export_checked, save_network, train_genotype

    if max_images:
        dataset = Dataset(dataset.name, dataset.train.subset(max_images, config.seed), dataset.test)
    result = train_genotype(genotype, dataset, config)
    out_dir = Path(out_dir)
    save_network(result.model, config, out_dir)
    report = {
        "genotype": str(genotype),
        "dataset": dataset.name,
        "train_images": len(dataset.train),
        "test_images": len(dataset.test),
        "test_accuracy": result.test_accuracy,
        "train_losses": list(result.train_losses),
        "train_seconds": result.seconds,
        "parameters": sum(p.numel() for p in result.model.parameters()),
        **export_checked(result.model, dataset.test, out_dir / "network.onnx"),
    }
    _json(out_dir / "report.json", report)
    return report
