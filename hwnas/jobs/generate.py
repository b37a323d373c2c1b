"""Job 2: generate an architecture for a latency budget from a device's measured latencies."""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hwnas.core.budget import BudgetError, Candidate, check_budget_arguments
from hwnas.core.measured import check_measured_value, check_outliers
from hwnas.core.spaces import create_space
from hwnas.core.spaces.nb201 import (
    FEATURES,
    NB201Arch,
    all_codes,
    encode,
    encode_codes,
)
from hwnas.core.tables import load_accuracy_table, load_latency_table
from hwnas.errors import InputError

DATASETS = ("cifar10", "cifar100", "imagenet16_120")
SURROGATE_SLACK = 0.05
"""The margin below the count stand-in's worst cross-validated underestimate by which
`generate_with_kernels` still prices a cell (the stand-in's errors against the kernel
predictor are a few per cent on NB201)."""
MIN_SAMPLES = 10


class LatencyFileError(InputError):
    """A latency file (CSV `arch,latency_ms`) that cannot be used."""


@dataclass(frozen=True)
class GenerateResult:
    """The chosen cell for a budget, and what the choice rests on.

    Attributes:
        chosen: The most accurate cell whose latency bound meets the budget.
        fastest: The cell with the lowest predicted latency (`generate_with_kernels`: of the
            five the count model predicts fastest).
        budget_ms: The latency budget.
        confidence: The probability the bound is meant to hold with (None: no margin, the
            bound is the prediction).
        bound_factor: latency_bound_ms / predicted_latency_ms for every cell.
        dataset: The dataset whose test accuracy ranks the cells.
        n_within_budget: How many of the 15,625 cells are predicted to meet the budget
            (`generate_with_kernels`: how many the count model could not rule out).
        predictor: The latency model used: name, cross-validated MAPE, training samples.
    """

    chosen: Candidate
    fastest: Candidate
    budget_ms: float
    confidence: float | None
    bound_factor: float
    dataset: str
    n_within_budget: int
    predictor: dict


def read_latency_csv(path: str | Path, space: str = "nb201") -> dict[str, float]:
    """Reads `arch,latency_ms` rows (other columns are ignored) keyed by canonical arch string.

    The architectures are parsed as those of the registered `space` (NB201 cells by default).

    Raises:
        LatencyFileError: naming the file, the line and what is wrong there.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")  # a spreadsheet's BOM is no column name
    except (OSError, UnicodeDecodeError) as err:
        raise LatencyFileError(f"cannot read latency file {path}: {err}") from err
    reader = csv.DictReader(text.splitlines())
    if reader.fieldnames is None or not {"arch", "latency_ms"} <= set(reader.fieldnames):
        raise LatencyFileError(
            f"{path}: the header must name the columns 'arch' and 'latency_ms', "
            f"found {reader.fieldnames}"
        )
    latencies: dict[str, float] = {}
    parser = create_space(space)
    for line_no, row in enumerate(reader, start=2):
        try:
            arch = str(parser.parse(row["arch"] or ""))
        except ValueError as err:
            raise LatencyFileError(f"{path}, line {line_no}: {err}") from None
        try:
            value = float(row["latency_ms"])
        except (TypeError, ValueError):
            raise LatencyFileError(
                f"{path}, line {line_no}: latency_ms {row['latency_ms']!r} is not a number"
            ) from None
        check_measured_value(value, "latency_ms", f"{path}, line {line_no}", LatencyFileError)
        if arch in latencies:
            raise LatencyFileError(f"{path}, line {line_no}: {arch} appears a second time")
        latencies[arch] = value
    check_outliers(latencies, "latency_ms", str(path), LatencyFileError)
    return latencies


def latencies_from_table(device: str) -> dict[str, float]:
    """The shipped NB201 latencies of one literature device setting (e.g. `gold_6240`)."""
    return load_latency_table("nb201").by_arch(device)


LIVE_FEATURES = tuple(
    FEATURES.index(f"live_count:{op}")
    for op in ("skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
)
"""`encode` columns counting the operations that reach the cell output (`none` excluded)."""

FEATURE_SETS = (("all", None), ("live", LIVE_FEATURES))
"""The `encode` column sets `fit_latency_predictor` lets cross-validation choose between."""


def fit_latency_predictor(latencies: dict[str, float], model: str = "auto"):
    """A `predictors.LatencyRegressor` fitted on the count features (`encode`) of the cells.

    Cross-validation chooses between all 10 count features and the 4 live operation counts.
    An ONNX export drops dead edges and never builds `none`, so its latency depends on the
    live counts alone; with all 10, 40 noisy measurements leave room for a fit in which a
    dead convolution is cheaper than a `none` edge, and the budgeted choice then picks
    exactly such cells (one predicted at 0.28 ms measures 0.53 ms on the development VM,
    `tests/hwnas/data`). Devices that run every edge (the PyTorch-measured tables) keep the
    full set.
    """
    from predictors import LatencyRegressor

    if len(latencies) < MIN_SAMPLES:
        raise InputError(
            f"a latency predictor needs at least {MIN_SAMPLES} measured cells, got "
            f"{len(latencies)}: profile the device first (hwnas profile)"
        )
    archs = [NB201Arch.from_string(a) for a in latencies]
    targets = np.array([latencies[a] for a in latencies], dtype=np.float64)
    return LatencyRegressor(model=model, feature_sets=FEATURE_SETS).fit(encode(archs), targets)


def _bound_factor(predictor, confidence: float | None, n_measured: int) -> float:
    """The predictor's bound factor at ``confidence`` (1 without one); too few cells raise."""
    factor = 1.0 if confidence is None else predictor.bound_factor(confidence)
    if not math.isfinite(factor):
        raise BudgetError(
            f"{n_measured} measured cells are too few for a {confidence:.0%} latency bound: "
            "measure more cells or lower the confidence"
        )
    return factor


def median_bound_budget(
    latencies: dict[str, float], predictor, confidence: float | None = 0.9
) -> float:
    """A budget about half of the measured cells meet: the median of their latency bounds.

    The bound is what `generate_for_budget` compares with the budget (the prediction times
    the bound factor at `confidence`). The median measured latency itself can lie below
    every cell's bound on a noisy machine, where the bound factor is large; the median bound
    never does (the fastest cell's bound is at most the smallest measured cell's bound).

    Args:
        latencies: The measured cells, keyed by NB201 arch string.
        predictor: The `LatencyRegressor` fitted on them (`fit_latency_predictor`).
        confidence: As for `generate_for_budget`; None gives the median prediction.
    """
    factor = _bound_factor(predictor, confidence, len(latencies))
    archs = [NB201Arch.from_string(a) for a in latencies]
    return float(np.median(predictor.predict(encode(archs)))) * factor


def generate_for_budget(
    latencies: dict[str, float],
    budget_ms: float,
    dataset: str = "cifar10",
    model: str = "auto",
    confidence: float | None = 0.9,
    predictor=None,
    exclude: frozenset[str] = frozenset(),
) -> GenerateResult:
    """The most accurate NB201 cell whose predicted latency on the device fits `budget_ms`.

    Picking the most accurate cell among those predicted to fit favours cells whose latency
    is underestimated. So by default the prediction must fit with a margin: the predicted
    latency times a split-conformal factor from the predictor's cross-validated errors
    (`LatencyRegressor.upper_bound`), which the true latency stays below with about
    `confidence` probability.

    Args:
        latencies: Measured latency (ms) of at least 10 cells on the device, keyed by string.
        budget_ms: The latency budget.
        dataset: Whose tabulated test accuracy ranks the cells: one of `DATASETS`.
        model: The latency model ("auto" picks by cross-validation).
        confidence: Probability for the latency bound; None compares the bare prediction.
        predictor: A fitted `predictors.LatencyRegressor` on the `encode` features to use
            instead of fitting one on `latencies` (`model` is then ignored).
        exclude: Arch strings never to choose (cells measured over the budget already).

    Raises:
        BudgetError: when no cell fits; the message names the fastest cell, its predicted
            latency and the budget it would need.
    """
    if dataset not in DATASETS:
        raise InputError(f"dataset must be one of {DATASETS}, got {dataset!r}")
    check_budget_arguments(budget_ms, confidence)
    if predictor is None:
        predictor = fit_latency_predictor(latencies, model)
    factor = _bound_factor(predictor, confidence, len(latencies))
    codes = all_codes()
    predicted = predictor.predict(encode_codes(codes))
    bound = predicted * factor
    accuracy_table = load_accuracy_table()
    accuracy = accuracy_table.column(f"{dataset}_test_acc")

    def candidate(index: int) -> Candidate:
        arch = accuracy_table.archs[index]
        return Candidate(
            arch=arch,
            nb201_index=index,
            predicted_latency_ms=float(predicted[index]),
            latency_bound_ms=float(bound[index]),
            accuracy=float(accuracy[index]),
            measured_latency_ms=latencies.get(arch),
        )

    fastest = candidate(int(np.argmin(predicted)))
    fits = np.flatnonzero(bound <= budget_ms)
    if exclude:
        fits = np.array([i for i in fits if accuracy_table.archs[i] not in exclude], dtype=int)
    if fits.size == 0:
        how = "predicted" if confidence is None else f"bounded at {confidence:.0%} confidence"
        left = f" beyond the {len(exclude)} measured over it" if exclude else ""
        raise BudgetError(
            f"no NB201 cell{left} is {how} to run within {budget_ms:g} ms on this device; the "
            f"fastest is {fastest.arch} at a predicted {fastest.predicted_latency_ms:.3f} ms "
            f"(bound {fastest.latency_bound_ms:.3f} ms, {dataset} accuracy "
            f"{fastest.accuracy:.2f}%): raise the budget to at least "
            f"{fastest.latency_bound_ms:.3f} ms"
        )
    # Most accurate first; among equals the faster one.
    best = fits[np.lexsort((bound[fits], -accuracy[fits]))[0]]
    return GenerateResult(
        chosen=candidate(int(best)),
        fastest=fastest,
        budget_ms=float(budget_ms),
        confidence=confidence,
        bound_factor=factor,
        dataset=dataset,
        n_within_budget=int(fits.size),
        predictor={
            "model": predictor.model_,
            "cv_mape": predictor.cv_mape_,
            "n_train": len(latencies),
        },
    )


def generate_with_kernels(
    latencies: dict[str, float],
    budget_ms: float,
    predictor,
    dataset: str = "cifar10",
    confidence: float | None = 0.9,
    max_priced: int = 400,
    candidates=None,
) -> GenerateResult:
    """As `generate_for_budget`, with a runtime predictor that prices cells by their kernels.

    A `hwnas.methods.runtime_predictor.RuntimePredictor` is fitted on the measured cells; it
    prices a cell from the kernels ONNX Runtime runs for it (found by exporting the cell), so
    it cannot price all 15,625 at once. A stand-in rules cells out instead: the count-feature
    regression of `generate_for_budget`, fitted to the runtime predictor's own predictions
    of every cell priced so far (the measured ones, those whose kernel lists are cached, and
    those this call prices; refitted as they double). A cell is priced only if the stand-in,
    times the smallest ratio of runtime prediction to cross-validated stand-in prediction
    seen (less `SURROGATE_SLACK` of it), could meet the budget. Cells are priced most
    accurate first; the first whose bound meets the budget is chosen, so the answer is the
    one the runtime predictor would give over all cells the stand-in does not rule out.

    Args:
        latencies: Measured latency (ms) of at least 10 cells on the device setting.
        budget_ms: The latency budget.
        predictor: An unfitted `RuntimePredictor` of the device setting (its kernel table).
        dataset: Whose tabulated test accuracy ranks the cells.
        confidence: Probability for the latency bound; None compares the bare prediction.
        max_priced: Most cells priced (kernel lists found) by this call before giving up.
        candidates: NB201 table indices of the cells to choose among (e.g. those a MODNAS
            hypernetwork proposes, `hwnas.methods.modnas.generate.candidate_indices`); None:
            all 15,625.

    Raises:
        BudgetError: when no priced cell fits, naming the fastest priced one (and, where the
            `max_priced` cap cut the search, how many candidates were left unpriced).

    When `max_priced` new cells were priced and none of them fits, the answer is the most
    accurate cell priced so far that fits, with ``predictor["cut_at"]`` (the cap) and
    ``predictor["unpriced"]`` (the candidates left unpriced, some of which might be more
    accurate); a `BudgetError` only where no priced cell fits at all.
    """
    if dataset not in DATASETS:
        raise InputError(f"dataset must be one of {DATASETS}, got {dataset!r}")
    check_budget_arguments(budget_ms, confidence)
    measured = [NB201Arch.from_string(a) for a in latencies]
    predictor.fit(measured, [latencies[a] for a in latencies])
    factor = _bound_factor(predictor, confidence, len(latencies))
    accuracy_table = load_accuracy_table()
    accuracy = accuracy_table.column(f"{dataset}_test_acc")
    archs = accuracy_table.archs
    features = encode_codes(all_codes())
    allowed = np.ones(len(archs), dtype=bool)
    if candidates is not None:
        allowed[:] = False
        try:
            allowed[np.asarray(candidates, dtype=np.int64)] = True
        except IndexError as err:
            raise InputError(f"candidates must be NB201 table indices 0..15624: {err}") from None
        if not allowed.any():
            raise InputError("candidates is empty: give at least one NB201 table index")

    def price_many(indices) -> dict[int, float]:
        if not indices:
            return {}
        cells = [NB201Arch.from_string(archs[i]) for i in indices]
        return dict(zip(indices, map(float, predictor.predict(cells)), strict=True))

    # Runtime predictions known without pricing anything new: the measured cells and the
    # cells whose kernel lists are cached (an earlier budget priced them).
    index_of = {arch: i for i, arch in enumerate(archs)}
    priced = price_many(sorted({index_of[a] for a in latencies} | set(predictor.cached_indices())))
    new = 0

    def stand_in():
        """Cells the stand-in cannot rule out, most accurate (then predicted fastest) first."""
        # a linear model: gradient-boosted trees cost seconds per refit and rank no better
        fitted = fit_latency_predictor({archs[i]: p for i, p in priced.items()}, "linear")
        lowest = float(fitted.cv_ratio_.min()) if fitted.cv_ratio_.size else 1.0
        floor = min(1.0, lowest) * (1 - SURROGATE_SLACK)
        counted = fitted.predict(features)
        # a priced cell is judged by its price, the others by the stand-in
        known = np.fromiter(priced, dtype=np.int64, count=len(priced))
        fits = counted * floor * factor <= budget_ms
        fits[known] = (
            np.fromiter(priced.values(), dtype=float, count=len(priced)) * factor <= budget_ms
        )
        could_fit = np.flatnonzero(fits & allowed)
        return could_fit[np.lexsort((counted[could_fit], -accuracy[could_fit]))], counted

    order, counted = stand_in()
    refit_at = 2 * len(priced)

    def candidate(index: int) -> Candidate:
        return Candidate(
            arch=archs[index],
            nb201_index=int(index),
            predicted_latency_ms=priced[index],
            latency_bound_ms=priced[index] * factor,
            accuracy=float(accuracy[index]),
            measured_latency_ms=latencies.get(archs[index]),
        )

    def answer(index: int, pricing: dict) -> GenerateResult:
        return GenerateResult(
            chosen=candidate(index),
            fastest=fastest,
            budget_ms=float(budget_ms),
            confidence=confidence,
            bound_factor=factor,
            dataset=dataset,
            n_within_budget=len(order),
            predictor=info | pricing,
        )

    quick = [int(i) for i in np.flatnonzero(allowed)[np.argsort(counted[allowed])[:5]]]
    priced |= price_many([i for i in quick if i not in priced])
    fastest = min((candidate(i) for i in quick), key=lambda c: c.predicted_latency_ms)
    info = {"model": f"kernels {predictor.chosen}", "n_train": len(latencies)}
    info["cv_mape"] = predictor.regressor_.cv_mape_
    position = 0
    while position < len(order):
        index = int(order[position])
        position += 1
        if index not in priced:
            if new == max_priced:
                position -= 1  # this one is left unpriced
                break
            priced |= price_many([index])
            new += 1
        if priced[index] * factor <= budget_ms:
            return answer(index, {"priced": new})
        if len(priced) >= refit_at:  # a better stand-in from the cells priced since
            done = set(int(i) for i in order[:position])
            order, counted = stand_in()
            order = np.array([i for i in order if int(i) not in done], dtype=np.int64)
            position, refit_at = 0, 2 * len(priced)
    # The pricing cap cut the search (or the stand-in ruled out every cell that fits): the
    # best answer known is the most accurate cell priced so far (measured, cached or priced
    # now) whose bound meets the budget, said to be cut where it was.
    unpriced = sum(int(i) not in priced for i in order[position:])
    fits = [i for i in priced if allowed[i] and priced[i] * factor <= budget_ms]
    if fits:
        best = max(fits, key=lambda i: (accuracy[i], -priced[i]))
        cut = {"cut_at": max_priced, "unpriced": unpriced} if unpriced else {}
        return answer(best, {"priced": new} | cut)
    fastest = min(
        (candidate(i) for i in priced if allowed[i]), key=lambda c: c.predicted_latency_ms
    )
    how = "predicted" if confidence is None else f"bounded at {confidence:.0%} confidence"
    fix = f"raise the budget to at least {fastest.latency_bound_ms:.3f} ms"
    if unpriced:  # cut with candidates left that might fit
        fix = (
            f"the search stopped at {max_priced} new cells priced with {unpriced} "
            "candidates left unpriced that might fit: run it again (the priced cells are cached, "
            f"so it goes further), or {fix}"
        )
    raise BudgetError(
        f"none of the {new} NB201 cells priced by their kernels (of {len(priced)} known) is "
        f"{how} to run within {budget_ms:g} ms on this device setting; the fastest priced is "
        f"{fastest.arch} at a predicted {fastest.predicted_latency_ms:.3f} ms (bound "
        f"{fastest.latency_bound_ms:.3f} ms): {fix}"
    )


def stored_runtime_predictor(store, device: str, precision: str, rows):
    """The unfitted runtime predictor of a store's NB201 device setting, or None.

    None unless the store holds kernel profiles (``hwnas profile --choose``) taken with the
    threads and graph optimisation of the measured ``rows`` (`profilers.Measurement`).
    Kernel lists of the cells it prices are cached in the store's ``kernels`` folder.
    """
    from hwnas.jobs.profile_choose import kernel_folder
    from hwnas.methods.runtime_predictor import (
        KernelProfiler,
        RuntimePredictor,
        stored_kernel_table,
    )
    from profilers import OnnxRuntime

    settings = {
        (m.runtime_info.get("intra_op_threads"), m.runtime_info.get("graph_optimization"))
        for m in rows
    }
    if len(settings) != 1:
        return None
    threads, optimization = settings.pop()
    if not isinstance(threads, int) or optimization is None:
        return None
    runtime = OnnxRuntime(intra_op_threads=threads, graph_optimization=optimization)
    table = stored_kernel_table(store, device, runtime, precision)
    if table is None:
        return None
    profiler = KernelProfiler("nb201", kernel_folder(store.path), runtime, precision)
    return RuntimePredictor(profiler, table)
