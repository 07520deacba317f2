"""Protocols projected from the fit part: the wall time of an experiment plan's runs, one
process on this machine.

Each fit case's epoch time (:mod:`tf_introspect.bench.fit`, keyed by ``cost_key``: model,
batch, the step's kind) is scaled to each run of the plan's run list (``lab.plans.plan_runs``:
cells, seeds, grid points, epochs, LE warm-up epochs at the CE cost) and summed: the projected
wall time of each table's protocol (``PROTOCOLS``). Per-epoch callbacks (TensorBoard,
BackupAndRestore, CSV, explanation images) and teacher training are not included.
"""

import dataclasses
import math
import os

from tf_introspect.bench.cases import CE_LIKE, KD_LIKE, PROTOCOLS, REPO, TEST_SIZE, TRAIN_SIZE
from tf_introspect.bench.pipeline_cases import config


def cost_key(cfg):
    """What a run's epoch costs like: model, batch and the step's kind."""
    method = cfg.method
    if method in CE_LIKE:
        kind = "ce"
    elif method in ("le", "le_permut"):
        kind = f"le_{cfg.explainer}"
    elif method in KD_LIKE:
        kind = f"kd_{cfg.teacher_model or 'given'}"
    else:
        kind = method
    return f"{cfg.model}_b{cfg.batch_size}_{kind}"


def epoch_steps(cfg, limits=True):
    """``(training steps, evaluation steps)`` of one epoch of ``cfg``: the data set's full
    splits, cut by ``--train_limit`` / ``--test_limit`` only with ``limits``; the validation
    pass is on the held-out images (``--validation_split``) or the test set."""
    n_train, n_test = TRAIN_SIZE[cfg.dataset], TEST_SIZE
    if limits:
        n_train = min(cfg.train_limit or n_train, n_train)
        n_test = min(cfg.test_limit or n_test, n_test)
    held_out = cfg.validation_split or 0
    batch = cfg.batch_size
    return math.ceil((n_train - held_out) / batch), math.ceil((held_out or n_test) / batch)


def plan_cost(name, measured):
    """Projected wall time (one process, this machine) of protocol ``name``."""
    from tf_introspect.lab.plans import cell_args, load_plan, plan_runs

    path, protocol_flags, cells = PROTOCOLS[name]
    plan = load_plan(os.path.join(REPO, path))
    if protocol_flags is not None:
        plan = {**plan, "flags": protocol_flags}
    by_key = {r["cost_key"]: r for r in measured.values()}
    runs = plan_runs(plan, cells)
    total, epochs, missing, grid_runs = 0.0, 0, set(), 0
    for run in runs:
        cell = next(c for c in plan["cell"] if c["name"] == run.cell)
        args = run.args or [*cell_args(plan, cell), "--seed=0"]  # grid pending
        cfg = config(args)
        grid_runs += bool(run.grid)
        epochs += cfg.epochs
        key = cost_key(cfg)
        if key not in by_key:
            missing.add(key)
            continue
        steps, evals = epoch_steps(cfg)
        r = by_key[key]

        def epoch_s(case, steps=steps, evals=evals):
            return (
                steps * case["ms_per_step"] / 1e3
                + case["fit_overhead_s"]
                + evals * case["eval_ms_per_step"] / 1e3
                + case["eval_overhead_s"]
            )

        stage1 = cfg.warmup_epochs if cfg.method in ("le", "le_permut") else 0
        stage1 = min(stage1, cfg.epochs)
        warm = by_key.get(cost_key(dataclasses.replace(cfg, method="ce")), r)  # warm-up costs CE
        total += stage1 * epoch_s(warm) + (cfg.epochs - stage1) * epoch_s(r)
        # Hint's and FSP's stage 1 before the schedule, priced as a stage-2 epoch (an upper
        # bound: stage 1 runs the student only up to its guided layer)
        total += cfg.pretraining_epochs * epoch_s(r)
        epochs += cfg.pretraining_epochs
    return {
        "plan": path,
        "protocol_flags": plan.get("flags", {}),
        "cells": cells or "all",
        "runs": len(runs),
        "grid_runs": grid_runs,
        "epochs": epochs,
        "hours": None if missing else round(total / 3600, 1),
        "missing_cases": sorted(missing),
    }


def project(names, measured, precision):
    """Print and return ``{name: plan_cost}`` of the protocols ``names`` from the fit part's
    ``measured`` cases (timed at ``precision``)."""
    projected = {}
    if names:
        at = "" if precision == "float32" else f", at {precision}"
        print(
            f"\nProjected wall time of each protocol, one process on this machine (epochs x "
            "epoch time over all runs; LE warm-up epochs at the CE cost; teachers, "
            f"per-epoch callbacks not included{at}):"
        )
        print(
            f"{'protocol':14s} {'runs':>5s} {'(grid)':>7s} {'epochs':>7s} {'hours':>8s}  "
            f"{'days':>6s}  missing fit cases"
        )
        for name in names:
            p = projected[name] = plan_cost(name, measured)
            hours = f"{p['hours']:8.1f}" if p["hours"] is not None else f"{'-':>8s}"
            days = f"{p['hours'] / 24:6.1f}" if p["hours"] is not None else f"{'-':>6s}"
            print(
                f"{name:14s} {p['runs']:5d} {p['grid_runs']:7d} {p['epochs']:7d} {hours}  "
                f"{days}  {', '.join(p['missing_cases']) or '-'}"
            )
    return projected
