"""The ``masknet`` command line: one entry point for training, conversion and the device runtime.

Subcommands are imported lazily, so ``masknet --help`` and the device-side commands (``rank``,
``bench``, ``verify``) never import TensorFlow.
"""

from __future__ import annotations

import logging
import signal
import threading

import click

from masknet_edge.cli.tools import LazyGroup, request_stop

COMMANDS = {
    "data": "masknet_edge.cli.data:data",
    "distill": "masknet_edge.cli.distillation:distill",
    "spec": "masknet_edge.cli.data:spec",
    "train": "masknet_edge.cli.training:train",
    "convert": "masknet_edge.cli.conversion:convert",
    "check": "masknet_edge.cli.conversion:check",
    "frontier": "masknet_edge.cli.conversion:frontier",
    "demo": "masknet_edge.cli.demo:demo",
    "keygen": "masknet_edge.cli.signing:keygen",
    "sign": "masknet_edge.cli.signing:sign",
    "rank": "masknet_edge.cli.device:rank",
    "bench": "masknet_edge.cli.device:bench",
    "verify": "masknet_edge.cli.device:verify",
}


#: What ``masknet --help`` lists for each command: the first paragraph of its docstring (a test checks).
SUMMARIES = {
    "bench": "Measure request latency (encode, invoke, whole), throughput, load time and peak RSS.",
    "check": "Measure what quantization cost against the float model; exit 1 when a threshold is violated.",
    "convert": "Convert a trained run into a device bundle (model + spec + manifest + golden vectors).",
    "data": "Prepare data sets: the generated shop world and the public CTR formats.",
    "demo": "Run the whole pipeline on the generated shop world and rank items for three users.",
    "distill": "Train a smaller student on a teacher run's scores and the labels.",
    "frontier": "Distil a grid of students, convert each, and find the best bundle within a device budget.",
    "keygen": "Make a signing key pair: the private key (mode 0600) and the public key devices trust.",
    "rank": "Rank candidates for one context with a bundle and print the top k.",
    "sign": "Sign a bundle: a detached signature in the OpenSSF Model Signing format (BUNDLE.sig).",
    "spec": "Feature spec tools.",
    "train": "Train a model from data files into a run directory.",
    "verify": (
        "Check a bundle: integrity, its golden vectors (encoding and scores), and this runtime's encoder "
        "against the conformance cases of ENCODING.md. Exit 1 on a mismatch."
    ),
}


@click.group(
    cls=LazyGroup,
    lazy=COMMANDS,
    summaries=SUMMARIES,
    context_settings={"help_option_names": ["-h", "--help"]},
)
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
    if threading.current_thread() is threading.main_thread():  # signal handlers live there only
        # SIGTERM (how a service manager or ``kill`` stops a process) stops a command as Ctrl-C does:
        # outputs stay whole or absent, and temporary files (the encoded training cache) are removed.
        signal.signal(signal.SIGTERM, request_stop)
        if signal.getsignal(signal.SIGINT) is signal.default_int_handler:  # not where SIGINT is ignored
            signal.signal(signal.SIGINT, request_stop)


if __name__ == "__main__":
    main()
