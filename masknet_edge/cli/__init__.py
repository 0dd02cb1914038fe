"""The ``masknet`` command line, every command of it: the only package that imports click.

``main`` is the group (:mod:`cli.main`); each stage's commands have a module here
(``data``, ``training``, ``conversion``, ``device``, ``demo``) that parses options and calls the stage's
API. The commands of the device (``rank``, ``bench``, ``verify``) import no TensorFlow.
"""
