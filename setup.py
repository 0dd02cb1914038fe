"""The one thing pyproject.toml cannot declare: the encoder's optional C fast path.

``optional=True``: where no C compiler or Python headers exist, the install goes on without it and
the encoder uses its pure-Python path (same results;
``masknet_edge.edge_runtime.native`` says which is active).
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension("masknet_edge.edge_runtime._fastcols", ["edge_runtime/_fastcols.c"], optional=True),
    ]
)
