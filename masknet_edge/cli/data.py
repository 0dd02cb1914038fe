"""``masknet spec infer`` and ``masknet data``: propose a spec from a file, and prepare data sets.

The training commands are in :mod:`cli.training`; like them, these import TensorFlow (if ever) inside
their bodies only.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from masknet_edge.cli.tools import emit_json, guarded, json_option

if TYPE_CHECKING:
    from masknet_edge.edge_runtime.spec import FeatureSpec
    from masknet_edge.train.infer import ColumnReport


@click.group()
def spec() -> None:
    """Feature spec tools."""


@spec.command("infer")
@click.argument("data_file", type=click.Path(path_type=Path))
@click.option("--label", required=True, help="Label column (excluded from the features).")
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Spec JSON to write.")
@click.option(
    "--context",
    "context_cols",
    default="",
    help="Comma-separated columns of the user/request side (encoded once per request), "
    "whatever the data say.",
)
@click.option(
    "--item",
    "item_cols",
    default="",
    help="Comma-separated columns of the item side (encoded per candidate), whatever the data say.",
)
@click.option("--rows", type=click.IntRange(1), default=100_000, show_default=True, help="Rows to inspect.")
@click.option(
    "--min-count",
    type=click.IntRange(1),
    default=2,
    show_default=True,
    help="Vocabulary fields give their own id to values seen at least this often in training.",
)
@click.option(
    "--max-vocab",
    type=click.IntRange(1),
    default=100_000,
    show_default=True,
    help="Columns with more frequent values than this are hashed instead.",
)
@click.option("--ignore", "ignore_cols", default="", help="Comma-separated columns that are not features.")
@click.option(
    "--behaviour",
    "behaviour_path",
    type=click.Path(path_type=Path),
    help="JSON of a behaviour section (events, features); its features become fields of the spec.",
)
@click.option(
    "--sequence",
    "sequence_item",
    metavar="ITEM",
    help="An impression log (masknet data replay): propose the user's last clicked and shown ITEM ids "
    "as histories the candidate attends to, with each event's age, their counts and the click rates "
    "(instead of --behaviour).",
)
@click.option(
    "--user",
    "user_col",
    help="The user column: it and the columns constant within each user go to the context side. "
    "Defaults to the one column named like user_id.",
)
@click.option("--time", "time_col", help="With --sequence: the time column (not a feature).")
@click.option("--overwrite", is_flag=True, help="Replace an existing --out file.")
@json_option
@guarded
def spec_infer(
    data_file: Path,
    label: str,
    out: Path,
    context_cols: str,
    item_cols: str,
    rows: int,
    min_count: int,
    max_vocab: int,
    ignore_cols: str,
    behaviour_path: Path | None,
    sequence_item: str | None,
    user_col: str | None,
    time_col: str | None,
    overwrite: bool,
    as_json: bool,
) -> None:
    """Propose a feature spec from a data file, for a user to edit, and say why for each column.

    \b
    Examples:
      masknet spec infer train.csv --label click --context user_id,age,gender --out spec.json
      masknet spec infer ratings.csv --label label --sequence item_id --user user_id --time timestamp \\
          --context age,gender --ignore split --out spec.json
    """
    from masknet_edge.edge_runtime.outputs import check_output
    from masknet_edge.train.infer import infer_spec_report

    check_output(out, [data_file, behaviour_path], overwrite=overwrite)
    behaviour = None
    if behaviour_path is not None and sequence_item is not None:
        raise click.UsageError(
            "give --behaviour (your own section) or --sequence (the proposed one), not both"
        )
    if time_col and sequence_item is None:
        raise click.UsageError("--time goes with --sequence")
    if behaviour_path is not None:
        from masknet_edge.train.behaviour_fields import read_behaviour

        behaviour = read_behaviour(behaviour_path)
    ignore = [c for c in ignore_cols.split(",") if c]
    context = [c for c in context_cols.split(",") if c]
    if sequence_item is not None:
        from masknet_edge.train.behaviour_fields import propose_sequences

        behaviour = propose_sequences(sequence_item)
        ignore += [time_col] if time_col else []
    spec, reports = infer_spec_report(
        data_file,
        label,
        context=context,
        rows=rows,
        min_count=min_count,
        max_vocab=max_vocab,
        ignore=ignore,
        behaviour=behaviour,
        item=[c for c in item_cols.split(",") if c],
        user=user_col,
    )
    spec.save(out)
    _report(spec, reports, out, as_json)


def _report(spec: FeatureSpec, reports: list[ColumnReport], out: Path, as_json: bool) -> None:
    """What ``spec infer`` decided for each column and why, as text or JSON."""
    if as_json:
        emit_json(
            {
                "spec": str(out),
                "fields": len(spec.fields),
                "columns": [
                    {
                        "name": r.name,
                        "decision": r.decision,
                        "reason": r.reason,
                        "distinct": r.distinct,
                        "collisions": r.collisions,
                        "leak": r.leak,
                    }
                    for r in reports
                ],
            }
        )
        return
    width = max(len(r.name) for r in reports)
    for r in reports:
        click.echo(f"{r.name:<{width}}  {r.decision}\n{'':<{width}}    why: {r.reason}")
    leaks = [r.name for r in reports if r.leak]
    if leaks:
        click.echo(f"left out as possible label leaks: {', '.join(leaks)}", err=True)
    context_fields = [f.name for f in spec.fields if f.side == "context"]
    if not context_fields:
        click.echo(
            "no user column found, so every field is on the item side (encoded per candidate): "
            "--user NAME or --context COLUMNS names the request's side",
            err=True,
        )
    click.echo(
        f"wrote {out}: {len(spec.fields)} fields ({len(context_fields)} on the context side); "
        "review kinds, vocabularies and sides before training"
    )


@click.group()
def data() -> None:
    """Prepare data sets: the generated shop world and the public CTR formats."""


@data.command("shop")
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Folder to write.")
@click.option("--users", type=click.IntRange(1), default=2_000, show_default=True)
@click.option("--items", type=click.IntRange(1), default=400, show_default=True)
@click.option("--interactions", type=click.IntRange(10), default=120_000, show_default=True)
@click.option("--seed", type=click.IntRange(0), default=0, show_default=True)
@click.option(
    "--sessions",
    is_flag=True,
    help="Sessions with a planted short-term interest: events.csv (time-ordered, split column) "
    "and a spec with behaviour fields, for masknet data replay.",
)
@click.option(
    "--shards",
    type=click.IntRange(1),
    default=1,
    show_default=True,
    help="Write the training split as N files in OUT/train/, drawn one shard at a time (memory holds "
    "one shard: any size); the same users, items and planted model, another draw of the impressions.",
)
@click.option(
    "--format", "file_format", type=click.Choice(["csv", "parquet"]), default="csv", show_default=True
)
@click.option("--overwrite", is_flag=True, help="Replace an existing --out folder.")
@json_option
@guarded
def data_shop(
    out: Path,
    users: int,
    items: int,
    interactions: int,
    seed: int,
    sessions: bool,
    shards: int,
    file_format: str,
    overwrite: bool,
    as_json: bool,
) -> None:
    """Generate the shop world (planted click model) as CSVs plus its spec.

    \b
    Examples:
      masknet data shop --out data/shop
      masknet data shop --interactions 20000000 --shards 8 --format parquet --out data/big
      masknet data shop --sessions --out data/sessions
      masknet data replay data/sessions/events.csv --spec data/sessions/spec.json \\
          --user user_id --time ts --split split --out data/replayed
    """
    from masknet_edge.edge_runtime.outputs import check_output, staged_dir
    from masknet_edge.edge_runtime.spec import FeatureSpec
    from masknet_edge.train.shopsessions import generate_sessions, session_spec_dict, write_events
    from masknet_edge.train.shopworld import (
        ShopWorldConfig,
        generate,
        shop_spec_dict,
        write_csvs,
        write_sharded,
    )

    check_output(out, overwrite=overwrite)
    if sessions and (shards > 1 or file_format != "csv"):
        raise click.UsageError("--sessions writes one events.csv; drop --shards/--format")
    config = ShopWorldConfig(num_users=users, num_items=items, num_interactions=interactions, seed=seed)
    with staged_dir(out, overwrite=overwrite) as staging:
        if sessions:
            names = [write_events(generate_sessions(config), staging).name]
            FeatureSpec.from_dict(session_spec_dict(users, items)).save(staging / "spec.json")
        else:
            if shards > 1:  # drawn shard by shard: memory holds one shard, whatever the size
                written = write_sharded(config, staging, shards=shards, file_format=file_format)
            else:
                written = write_csvs(generate(config), staging, file_format=file_format)
            names = [p.name for p in written.values()]
            FeatureSpec.from_dict(shop_spec_dict(users, items)).save(staging / "spec.json")
    files = {Path(n).stem: str(out / n) for n in [*names, "spec.json"]}
    if as_json:
        emit_json({"out": str(out), "files": files})
        return
    click.echo(f"wrote {', '.join(names)} and spec.json to {out}")


@data.command("replay")
@click.argument("events", type=click.Path(path_type=Path))
@click.option(
    "--spec",
    "spec_path",
    type=click.Path(path_type=Path),
    required=True,
    help="Spec with a behaviour section (masknet spec infer --behaviour).",
)
@click.option("--user", required=True, help="Column naming the user.")
@click.option("--time", "time_col", required=True, help="Column of event times in seconds.")
@click.option("--split", help="Column whose values name the output files (train/valid/test); dropped.")
@click.option("--expose", default="expose", show_default=True, help="Event kind of every impression.")
@click.option("--click", "click_event", default="click", show_default=True, help="Event kind of a click.")
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Folder to write.")
@click.option("--overwrite", is_flag=True, help="Replace an existing --out folder.")
@json_option
@guarded
def data_replay(
    events: Path,
    spec_path: Path,
    user: str,
    time_col: str,
    split: str | None,
    expose: str,
    click_event: str,
    out: Path,
    overwrite: bool,
    as_json: bool,
) -> None:
    """Add behaviour columns to an impression log, computed by the device's own code.

    EVENTS holds one row per impression (with the spec's label as the click outcome), in time order
    within each user. Each row gets the behaviour fields the device would have computed just before
    it; then the impression (and its click) is recorded, as the app does on the device.

    \b
    Example:
      masknet data replay events.csv --spec spec.json --user user_id --time ts --split split --out replayed
    """
    from masknet_edge.edge_runtime.spec import FeatureSpec
    from masknet_edge.train.replay import replay_file

    spec = FeatureSpec.load(spec_path)
    if spec.behaviour is None:
        raise click.UsageError(f"{spec_path} has no behaviour section; see masknet spec infer --behaviour")
    result = replay_file(
        events, spec, out, user, time_col, split=split, expose=expose, click=click_event, overwrite=overwrite
    )
    if as_json:
        emit_json(result)
        return
    click.echo(
        f"replayed {result['rows']:,} impressions of {result['users']:,} users into "
        + ", ".join(
            f"{Path(p).name} ({result['rows_per_file'][n]:,} rows)" for n, p in result["files"].items()
        )
        + f" in {out}"
    )


@data.command("split")
@click.argument("events", type=click.Path(path_type=Path))
@click.option(
    "--by", type=click.Choice(["time", "user"]), required=True, help="A global time cut, or new users."
)
@click.option("--time", "time_col", required=True, help="Column of event times in seconds.")
@click.option("--user", required=True, help="Column naming the user.")
@click.option("--seed", type=click.IntRange(0), default=0, show_default=True, help="Seed of the user split.")
@click.option("--out", type=click.Path(path_type=Path), required=True, help="CSV to write.")
@click.option("--overwrite", is_flag=True, help="Replace an existing --out file.")
@json_option
@guarded
def data_split(
    events: Path, by: str, time_col: str, user: str, seed: int, out: Path, overwrite: bool, as_json: bool
) -> None:
    """Write a timed log in time order with a split column: 80/10/10 by time, or by user.

    \b
    --by time: the last 10 % of the timeline is test, the 10 % before it valid.
    --by user: valid and test users (10 % each, seeded) never appear in training.
    Then: masknet data replay OUT --spec spec.json --user USER --time TIME --split split --out rows/

    \b
    Example:
      masknet data split ratings.csv --by time --time timestamp --user user_id --out ratings-by-time.csv
    """
    from masknet_edge.train.splits import split_file

    result = split_file(events, out, by, time_col, user, seed, overwrite=overwrite)
    if as_json:
        emit_json(result)
        return
    rows, users = result["rows"], result["users"]
    click.echo(
        f"wrote {out}: "
        + ", ".join(f"{s} {rows[s]:,} rows of {users[s]:,} users" for s in ("train", "valid", "test"))
    )


@data.command("prepare")
@click.argument("name", type=click.Choice(["movielens", "criteo", "avazu"]))
@click.argument("source", type=click.Path(path_type=Path))
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Folder to write.")
@click.option("--seed", type=click.IntRange(0), default=0, show_default=True, help="Seed of the 8:1:1 split.")
@click.option("--overwrite", is_flag=True, help="Replace an existing --out folder.")
@json_option
@guarded
def data_prepare(name: str, source: Path, out: Path, seed: int, overwrite: bool, as_json: bool) -> None:
    """Convert a public data set into train/valid/test CSVs and a spec.

    \b
    Example:
      masknet data prepare movielens ../shared/data/movielens-100k --out data/ml
    """
    from masknet_edge.train.datasets import prepare

    paths = prepare(name, source, out, seed, overwrite=overwrite)
    if as_json:
        emit_json({"out": str(out), "files": {k: str(p) for k, p in paths.items()}})
        return
    click.echo(f"wrote {', '.join(p.name for p in paths.values())} to {out}")
