"""Initializers as the layers take them: a name, a config or an object, resolved when a weight is made."""

from __future__ import annotations

from typing import Any

import keras

__all__ = ["check_initializer", "embedding_default", "fresh_initializer", "serialize_initializer"]


def fresh_initializer(identifier: Any, default: Any = None) -> Any:
    """A new initializer for one weight, made when the weight is made.

    Layers keep the identifier they were given (a name, a config dict or an object) and resolve it
    here: an unseeded Keras initializer draws its seed when it is constructed, so resolving in
    ``__init__``, or sharing one object between weights, would change (or correlate) the draws. An
    object is cloned, as Keras' own composite layers do.
    """
    if identifier is None:
        return default() if callable(default) else default
    if isinstance(identifier, keras.initializers.Initializer):
        return identifier.__class__.from_config(identifier.get_config())
    return keras.initializers.get(identifier)


def check_initializer(name: str, identifier: Any) -> Any:
    """``identifier`` when it can name an initializer (None, a name, a config, an object); else ValueError."""
    if identifier is None or isinstance(identifier, (str, dict, keras.initializers.Initializer)):
        return identifier
    raise ValueError(
        f"Expected {name} to be a keras.initializers name, config or object. Received: {name}={identifier!r}"
    )


def serialize_initializer(identifier: Any) -> Any:
    """An initializer as ``get_config`` stores it: objects serialized, names and configs as given."""
    if isinstance(identifier, keras.initializers.Initializer):
        return keras.initializers.serialize(identifier)
    return identifier


def embedding_default() -> Any:
    """Embedding rows drawn from N(0, 0.01^2) when no initializer is given."""
    return keras.initializers.RandomNormal(stddev=0.01)
