"""``masknet demo``: the whole story on the embedded shop world, in a few minutes on a CPU.

data -> spec -> SerMaskNet -> dynamic and int8 bundles -> accuracy check -> on-device ranking.
"""

from __future__ import annotations

import csv
import os
import shutil
import time
from pathlib import Path
from typing import Any

import click

from masknet_edge.cli.tools import (
    CliError,
    emit_json,
    guarded,
    import_tensorflow,
    json_option,
    stderr_is_terminal,
)

SIZES = {
    # name: (users, items, interactions, epochs, block units)
    "quick": (300, 80, 8_000, 2, 32),
    "default": (2_000, 400, 120_000, 8, 400),
    "large": (20_000, 2_000, 1_000_000, 10, 400),
}


#: With --json the story goes to stderr and stdout holds only the JSON summary.
_STORY_TO_STDERR = False


def _say(text: str = "") -> None:
    click.echo(text, err=_STORY_TO_STDERR)


def _step(n: int, text: str) -> None:
    click.secho(f"\n[{n}/7] {text}", bold=True, err=_STORY_TO_STDERR)


#: Marks a folder written by ``masknet demo``, which a later demo may replace.
DEMO_MARKER = ".masknet-demo"


def _claim_demo_folder(out: Path) -> None:
    """Make ``out`` an empty demo folder: new, empty, or written by an earlier demo (then emptied).

    Any other folder is refused: the demo never deletes what it did not write.
    """
    if out.exists() and not out.is_dir():
        raise CliError(f"--out {out} is a file; give a folder")
    if out.is_dir() and any(out.iterdir()):
        if not (out / DEMO_MARKER).is_file():
            raise CliError(
                f"--out {out} is a folder the demo did not write; "
                "choose a new or empty folder (the demo replaces only its own earlier output)"
            )
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / DEMO_MARKER).write_text("written by `masknet demo`; a later demo replaces this folder\n")


def _behaviour_story(
    out: Path,
    users: int,
    items: int,
    interactions: int,
    epochs: int,
    units: int,
    seed: int,
    catalog: list[dict[str, str]],
    person: dict[str, str],
) -> dict[str, Any]:
    """Step 6: sessions with a planted short-term interest, replay, a model with behaviour fields, and
    a user's top 10 before and after one click, ranked on the device from its behaviour log."""
    _step(6, "Real-time behaviour: sessions where a click raises interest in its category for minutes")
    bundle, spec, figures = _behaviour_bundle(out, users, items, interactions, epochs, units, seed)
    return {**figures, **_one_tap(out, bundle, spec, catalog, person)}


def _behaviour_bundle(
    out: Path, users: int, items: int, interactions: int, epochs: int, units: int, seed: int
) -> tuple[Path, Any, dict[str, float]]:
    """The session world replayed by the device's own code, a model with behaviour fields trained on
    it and converted; returns the bundle, its spec and the model's AUCs."""
    from masknet_edge.convert.conversion import convert_run
    from masknet_edge.edge_runtime.spec import FeatureSpec
    from masknet_edge.train.config import ModelConfig, TrainConfig
    from masknet_edge.train.metrics import auc
    from masknet_edge.train.pipeline import TrainInputs, train_run
    from masknet_edge.train.replay import replay_file
    from masknet_edge.train.shopsessions import generate_sessions, session_spec_dict, write_events
    from masknet_edge.train.shopworld import ShopWorldConfig

    sessions = out / "sessions"
    world = generate_sessions(
        ShopWorldConfig(num_users=users, num_items=items, num_interactions=interactions, seed=seed)
    )
    sessions.mkdir(parents=True, exist_ok=True)
    events = write_events(world, sessions)
    spec = FeatureSpec.from_dict(session_spec_dict(users, items))
    spec.save(sessions / "spec.json")
    replayed = replay_file(
        events, spec, sessions / "replayed", "user_id", "ts", split="split", overwrite=True
    )
    _say(
        f"  {events}: {replayed['rows']:,} impressions; behaviour columns replayed by the device's own code "
        f"into {sessions / 'replayed'}/ (train/valid/test by time)"
    )
    files = {k: Path(v) for k, v in replayed["files"].items()}
    metrics = train_run(
        TrainInputs(files["train"], files["valid"], files["test"], oracle_column="true_ctr"),
        spec,
        out / "run-behaviour",
        ModelConfig(block_units=units),
        TrainConfig(epochs=epochs, seed=seed),
        overwrite=True,
        progress=stderr_is_terminal(),
    )
    test = world.events["split"] == "test"
    static = auc(world.events["click"][test], world.events["static_ctr"][test])
    t = metrics["test"]
    _say(
        f"  test AUC with behaviour fields {t['auc']:.4f}; oracle {t['oracle_auc']:.4f}; the static part of "
        f"the truth alone (the best any model without behaviour can do) {static:.4f}"
    )
    bundle = out / "shop-behaviour.mnb"
    convert_run(out / "run-behaviour", "none", bundle, seed=seed, progress=stderr_is_terminal())
    return bundle, spec, {"test_auc": t["auc"], "oracle_auc": t["oracle_auc"], "static_truth_auc": static}


def _one_tap(
    out: Path, bundle: Path, spec: Any, catalog: list[dict[str, str]], person: dict[str, str]
) -> dict[str, Any]:
    """A user's top 10 of the catalog before and 3 s after tapping an item of a category not in it,
    ranked from the phone's behaviour log."""
    from masknet_edge.edge_runtime.behaviour_log import BehaviourLog
    from masknet_edge.edge_runtime.ranker import Ranker

    ranker = Ranker.load(bundle)
    ranker.index_catalog(catalog)
    log = BehaviourLog(out / "behaviour-log.db", spec)  # the phone's log: SQLite, bounded, local
    log.clear()
    now = 1_000_000.0
    before = ranker.rank_catalog(person, k=10, behaviour=log, now=now)
    top_categories = {item["category"] for item, _ in before}
    tapped = next((item for item in catalog if item["category"] not in top_categories), catalog[-1])
    log.record("expose", tapped, ts=now + 1)
    log.record("click", tapped, ts=now + 2)
    after = ranker.rank_catalog(person, k=10, behaviour=log, now=now + 5)
    log.close()
    _say(
        f"\n  user {person['user_id']} taps {tapped['item_id']} ({tapped['category']}); "
        "top 10 before and 3 s after:"
    )
    _say(f"    {'#':>2s}  {'before':<34s}  {'after the tap':<34s}")
    for i, ((a, sa), (b, sb)) in enumerate(zip(before, after, strict=True), start=1):
        fa = f"{a['item_id']} {a['category']} {sa:.3f}"
        fb = f"{b['item_id']} {b['category']} {sb:.3f}"
        _say(f"    {i:2d}  {fa:<34s}  {fb:<34s}")
    share = [sum(item["category"] == tapped["category"] for item, _ in top) for top in (before, after)]
    _say(f"    {tapped['category']} items in the top 10: {share[0]} before, {share[1]} after")
    return {
        "tapped": tapped["item_id"],
        "category_in_top10_before": share[0],
        "category_in_top10_after": share[1],
    }


@click.command()
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    default=Path("demo-out"),
    show_default=True,
    help="Folder for the data, the run and the bundles.",
)
@click.option(
    "--size",
    type=click.Choice(list(SIZES)),
    default="default",
    show_default=True,
    help="quick: seconds (tests); default: a few minutes on 2 CPU cores; large: a bigger world.",
)
@click.option("--seed", type=int, default=0, show_default=True)
@json_option
@guarded
def demo(out: Path, size: str, seed: int, as_json: bool) -> None:
    """Run the whole pipeline on the generated shop world and rank items for three users.

    \b
    Example:
      masknet demo                  # about a minute on a 2-core CPU
      masknet demo --size large     # a 1M-interaction world
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    global _STORY_TO_STDERR
    _STORY_TO_STDERR = as_json
    users, items, interactions, epochs, units = SIZES[size]
    t_start = time.perf_counter()
    _claim_demo_folder(out)
    data, run = out / "data", out / "run"
    paths, spec = _world(data, users, items, interactions, seed)
    import_tensorflow()
    watching = _quiet_logs()
    metrics = _train(paths, spec, run, epochs, units, seed, watching)
    bundles, checks = _convert(run, out, paths, seed, watching)
    catalog, people, verified = _rank(bundles, paths)
    behaviour = _behaviour_story(out, users, items, interactions, epochs, units, seed, catalog, people[0])
    _step(7, f"Done in {time.perf_counter() - t_start:.0f}s. Everything is in {out}/")
    _say(_next_steps(data, run, bundles, paths))
    if as_json:
        emit_json(
            {
                "out": str(out),
                "data": str(data),
                "run": str(run),
                "bundles": {mode: str(path) for mode, path in bundles.items()},
                "valid_auc": metrics["valid"]["auc"],
                "test_auc": metrics["test"]["auc"],
                "oracle_auc": metrics["test"]["oracle_auc"],
                "checks": checks,
                "verified": verified,
                "behaviour": behaviour,
                "seconds": round(time.perf_counter() - t_start, 1),
            }
        )


def _world(data: Path, users: int, items: int, interactions: int, seed: int) -> tuple[dict[str, Path], Any]:
    """Steps 1 and 2: the generated shop world's files, and its spec."""
    from masknet_edge.edge_runtime.spec import FeatureSpec
    from masknet_edge.train.shopworld import ShopWorldConfig, generate, shop_spec_dict, write_csvs

    _step(1, f"Generating the shop world: {users} users, {items} items, {interactions} impressions")
    world = generate(
        ShopWorldConfig(num_users=users, num_items=items, num_interactions=interactions, seed=seed)
    )
    paths = write_csvs(world, data)
    _say(f"  wrote {', '.join(str(p) for p in paths.values())}")
    _say(
        f"  click rate {world.interactions['click'].mean():.3f}; clicks follow the planted model in "
        "train/shopworld.py (age x category, gender x brand, price sensitivity, popularity)"
    )
    _step(
        2,
        "Feature spec: id vocabularies fitted on the training file, standardized age and log-price, "
        "bucketized age, crossed features",
    )
    spec = FeatureSpec.from_dict(shop_spec_dict(users, items))
    spec.save(data / "spec.json")
    _say(f"  {data / 'spec.json'}: {len(spec.fields)} fields")
    return paths, spec


def _quiet_logs() -> bool:
    """Epoch lines and progress bars are for a person watching: into a redirected stderr, warnings
    only. Returns whether someone is watching."""
    import logging

    watching = stderr_is_terminal()
    logging.getLogger("masknet").setLevel(logging.INFO if watching else logging.WARNING)
    logging.getLogger("tensorflow").setLevel(logging.ERROR)  # retracing notes of a second model
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.WARNING, format="  %(message)s")
    return watching


def _train(
    paths: dict[str, Path], spec: Any, run: Path, epochs: int, units: int, seed: int, watching: bool
) -> dict[str, Any]:
    """Step 3: SerMaskNet on the world's training file."""
    from masknet_edge.train.config import ModelConfig, TrainConfig
    from masknet_edge.train.pipeline import TrainInputs, train_run

    _step(3, "Training SerMaskNet (k=10, 3 MaskBlocks, reduction ratio 2, Adam, batch by the data size)")
    metrics = train_run(
        TrainInputs(paths["train"], paths["valid"], paths["test"], oracle_column="true_ctr"),
        spec,
        run,
        ModelConfig(block_units=units),
        TrainConfig(epochs=epochs, seed=seed),
        overwrite=True,
        progress=watching,
    )
    t = metrics["test"]
    _say(
        f"  valid AUC {metrics['valid']['auc']:.4f}   test AUC {t['auc']:.4f}   "
        f"oracle AUC (true click probabilities) {t['oracle_auc']:.4f}   gap {t['oracle_auc'] - t['auc']:.4f}"
    )
    return metrics


def _convert(
    run: Path, out: Path, paths: dict[str, Path], seed: int, watching: bool
) -> tuple[dict[str, Path], dict[str, Any]]:
    """Step 4: float, dynamic and int8 bundles, and what quantization cost."""
    from masknet_edge.convert.check import check_bundle, format_report
    from masknet_edge.convert.conversion import LAYERNORM_OPS, POOLING_OPS, convert_run

    _step(4, "Converting to float, dynamic and int8 bundles, and checking what quantization cost")
    bundles = {}
    for mode in ("none", "dynamic", "int8"):
        path = out / f"shop-{mode}.mnb"
        keep = (*LAYERNORM_OPS, *POOLING_OPS) if mode == "int8" else ()  # masknet convert's default
        convert_run(run, mode, path, keep_float=keep, seed=seed, progress=watching)
        bundles[mode] = path
        _say(f"  {path}: {path.stat().st_size / 1024:.0f} KiB")
    checks = {}
    for mode in ("dynamic", "int8"):
        report = check_bundle(bundles[mode], run, paths["test"], slate_size=50).report
        checks[mode] = {"passed": report["passed"], "violations": report["violations"]}
        _say("")
        _say("\n".join("  " + line for line in format_report(report).splitlines()[:12]))
    return bundles, checks


def _rank(
    bundles: dict[str, Path], paths: dict[str, Path]
) -> tuple[list[dict[str, str]], list[dict[str, str]], dict[str, bool]]:
    """Step 5: the catalog ranked on the device for three users, float beside int8; every bundle
    verified. Returns the catalog, the users and what each bundle's verification said."""
    from masknet_edge.edge_runtime.ranker import Ranker

    _step(5, "On-device ranking (edge_runtime: numpy + LiteRT, no TensorFlow): top 10 of the catalog")
    with paths["items"].open() as fh:
        catalog = list(csv.DictReader(fh))
    with paths["users"].open() as fh:
        people = list(csv.DictReader(fh))[:3]
    rankers = {m: Ranker.load(bundles[m]) for m in ("none", "int8")}
    for r in rankers.values():
        r.index_catalog(catalog)
    for person in people:
        _say(f"\n  user {person['user_id']} (age {person['age']}, {person['gender']}, {person['device']}):")
        tops = {m: r.rank_catalog(person, k=10) for m, r in rankers.items()}
        _say(f"    {'#':>2s}  {'float32':<40s}  {'int8':<40s}")
        for i, ((a, sa), (b, sb)) in enumerate(zip(tops["none"], tops["int8"], strict=True), start=1):
            fa = f"{a['item_id']} {a['category']}/{a['brand']} {sa:.3f}"
            fb = f"{b['item_id']} {b['category']}/{b['brand']} {sb:.3f}"
            _say(f"    {i:2d}  {fa:<40s}  {fb:<40s}")
        overlap = len({a["item_id"] for a, _ in tops["none"]} & {b["item_id"] for b, _ in tops["int8"]})
        _say(f"    top-10 overlap float vs int8: {overlap}/10")
    verified = {}
    for mode, path in bundles.items():
        verification = Ranker.load(path).verify()
        verified[mode] = verification.ok
        _say(f"  verify {path.name}: {verification}")
    return catalog, people, verified


def _next_steps(data: Path, run: Path, bundles: dict[str, Path], paths: dict[str, Path]) -> str:
    """Step 7's text: where everything is, and what to run next."""
    return f"""  data:    {data}/ (train/valid/test/users/items.csv, spec.json)
  run:     {run}/ (model.keras, metrics.json, training_curve.png)
  bundles: {", ".join(str(p) for p in bundles.values())}

Next:
  masknet rank {bundles["int8"]} --context '{{"user_id": "u1", "age": 30, "gender": "F", "device": "ios"}}' \\
      --candidates {paths["items"]} --k 5
  masknet bench {bundles["int8"]} --candidates 1,10,100,1000
  masknet check {bundles["int8"]} --reference {run} --data {paths["test"]} --plot check.png
  masknet train --train {paths["train"]} --valid {paths["valid"]} \\
      --spec {data / "spec.json"} --model paramasknet --out runs/para"""
