"""The one thing pyproject.toml cannot declare: the encoder's optional C fast path.

``optional=True``: where no C compiler or Python headers exist, the install goes on without it and
the encoder uses its pure-Python path (same results;
``masknet_edge.edge_runtime.native`` says which is active). ``MASKNET_PURE_WHEEL=1`` leaves it out
on purpose: one ``py3-none-any`` wheel for every device (``make emulation`` installs it on arm64).
"""

import os

from setuptools import Extension, setup

fast_path = Extension("masknet_edge.edge_runtime._fastcols", ["edge_runtime/_fastcols.c"], optional=True)
setup(ext_modules=[] if os.environ.get("MASKNET_PURE_WHEEL") == "1" else [fast_path])
