"""``python -m masknet_edge``: the ``masknet`` command."""

from masknet_edge.cli.main import main

if __name__ == "__main__":
    main()
