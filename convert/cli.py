"""The ``masknet`` command line: one entry point for training, conversion and the device runtime.

Subcommands are imported lazily, so ``masknet --help`` and the device-side commands (``rank``,
``bench``, ``verify``) never import TensorFlow.
"""

from __future__ import annotations

import logging

import click

from edge_runtime.clitools import LazyGroup

COMMANDS = {
    "data": "train.cli:data",
    "distill": "train.cli:distill",
    "spec": "train.cli:spec",
    "train": "train.cli:train",
    "convert": "convert.commands:convert",
    "check": "convert.commands:check",
    "frontier": "convert.commands:frontier",
    "demo": "convert.demo:demo",
    "rank": "edge_runtime.cli:rank",
    "bench": "edge_runtime.cli:bench",
    "verify": "edge_runtime.cli:verify",
}


@click.group(cls=LazyGroup, lazy=COMMANDS, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="masknet-edge")
@click.option("-v", "--verbose", is_flag=True, help="Log progress details on stderr.")
def main(verbose: bool) -> None:
    """masknet-edge: train MaskNet, convert it for the device, and rank on the device.

    \b
    Example:
      masknet data prepare movielens ../shared/data/movielens-100k --out data/ml
      masknet train --train data/ml/train.csv --valid data/ml/valid.csv --spec data/ml/spec.json --out runs/ml
      masknet convert runs/ml --quantize dynamic --out ml.bundle
      masknet rank ml.bundle --context '{"user_id": "196"}' --candidates items.csv
    """
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )


if __name__ == "__main__":
    main()
