"""``python -m edge_runtime``: the device-side commands (rank, bench, verify) without the rest."""

import click

from edge_runtime.cli import bench, rank, verify

main = click.Group(
    "edge_runtime",
    commands={"rank": rank, "bench": bench, "verify": verify},
    help="masknet-edge device runtime: rank, bench, verify.",
)

if __name__ == "__main__":
    main()
