"""Model builders: SerMaskNet, ParaMaskNet (the paper's two variants) and the DNN / LR baselines.

All four take the encoder's inputs (``FeatureSpec.input_signature()``) and output a sigmoid CTR of
shape ``[batch, 1]``; the functional models have a ``None`` batch dimension throughout.
"""

from __future__ import annotations

import keras
from keras import layers

from masknet_edge.edge_runtime.fields import MultiCategoricalField
from masknet_edge.edge_runtime.spec import FeatureSpec
from masknet_edge.train.config import ModelConfig
from masknet_edge.train.layers import FeatureEmbedding, FieldLayerNorm, MaskBlock, PooledSum

__all__ = ["build_model", "model_inputs"]


def model_inputs(spec: FeatureSpec) -> dict[str, keras.KerasTensor]:
    """One named ``keras.Input`` per encoder output, batch dimension ``None``."""
    return {
        i.name: keras.Input(shape=i.shape, dtype=i.dtype, name=i.name, batch_size=None)
        for i in spec.input_signature()
    }


def unknown_buckets(spec: FeatureSpec) -> list[list[int]]:
    """Per ``cat_ids`` column, ``[first_id, count]`` of its out-of-vocabulary ids: for a categorical
    field with a vocabulary, ``offset + 1 .. offset + oov_buckets``; ``[-1, 0]`` for the others (a
    hashing field, a bucketized numeric or a cross have no "never seen" value)."""
    offsets = spec.vocab_offsets()
    out = []
    for f in spec.id_fields:
        vocab = getattr(f, "vocabulary", None) is not None or getattr(f, "min_count", None) is not None
        is_vocab_field = f.kind == "categorical" and vocab
        out.append([offsets[f.name] + 1, f.oov_buckets] if is_vocab_field else [-1, 0])
    return out


def _query_column(f: MultiCategoricalField, id_names: list[str], spec: FeatureSpec) -> int:
    """The ``cat_ids`` column whose row queries a history: its ``shares`` field for ``attention``, and
    for a field ``along`` a history the item field it shares, if any; -1 otherwise."""
    if f.pooling == "attention":
        return id_names.index(f.shares)
    if f.along and f.shares and spec[f.shares].side == "item":
        return id_names.index(f.shares)
    return -1


def _embedding(
    spec: FeatureSpec,
    k: int,
    numeric_mode: str,
    l2: float,
    name: str,
    attention: tuple[int, ...],
    unknown_rate: float = 0.0,
) -> FeatureEmbedding:
    id_names = [f.name for f in spec.id_fields]
    multi_names = [f.name for f in spec.multi_fields]
    hide = {"unknown_rate": unknown_rate, "unknown_buckets": unknown_buckets(spec)} if unknown_rate else {}
    return FeatureEmbedding(
        vocab_size=spec.total_vocab,
        embedding_dim=k,
        num_id_fields=len(spec.id_fields),
        num_numeric=len(spec.dense_fields),
        multi_fields=[f.name for f in spec.multi_fields],
        multi_poolings=[f.pooling for f in spec.multi_fields],
        multi_queries=[_query_column(f, id_names, spec) for f in spec.multi_fields],
        multi_along=[multi_names.index(f.along) if f.along else -1 for f in spec.multi_fields],
        attention_units=attention,
        numeric_mode=numeric_mode,
        embeddings_regularizer=keras.regularizers.L2(l2) if l2 else None,
        name=name,
        **hide,
    )


def build_model(spec: FeatureSpec, config: ModelConfig | None = None) -> keras.Model:
    """Build an uncompiled model for ``spec``.

    SerMaskNet (paper Fig. 3a): ``h_1 = MaskBlock(V_emb, LN_EMB(V_emb))``, ``h_i = MaskBlock(V_emb,
    h_{i-1})``, ``p = sigmoid(w · h_K + b)``. ParaMaskNet (Fig. 3b): ``K`` MaskBlocks on
    ``LN_EMB(V_emb)`` in parallel, concatenated, then a ReLU MLP and ``p = sigmoid(w · h + b)``.
    DNN: flattened embeddings -> ReLU MLP -> sigmoid. LR: one weight per id and numeric -> sigmoid.

    Args:
        spec: the fitted feature spec (it sets the inputs and the embedding table).
        config: architecture; defaults to ``ModelConfig()`` (SerMaskNet as in the paper).
    """
    config = config or ModelConfig()
    inputs = model_inputs(spec)
    if config.model == "lr":
        weights = _embedding(spec, 1, "vector", 0.0, "weights", config.attention_units, config.unknown_rate)
        emb = weights(inputs)  # [B, F, 1]
        logit = PooledSum(name="logit")(emb)
        out = layers.Activation("sigmoid", name="ctr", dtype="float32")(logit)
        return keras.Model(inputs, out, name="lr")

    emb = _embedding(
        spec,
        config.embedding_dim,
        config.numeric_mode,
        config.embeddings_l2,
        "embedding",
        config.attention_units,
        config.unknown_rate,
    )(inputs)
    fields = emb.shape[1]
    flat_emb = layers.Reshape((fields * config.embedding_dim,), name="v_emb")(emb)
    dense = "num_values" in inputs and config.numeric_mode == "dense"
    if dense:
        flat_emb = layers.Concatenate(name="v_emb_with_numerics")([flat_emb, inputs["num_values"]])

    if config.model == "dnn":
        return keras.Model(inputs, _prediction(_mlp(flat_emb, config)), name="dnn")

    if config.ln_emb:
        ln_emb = FieldLayerNorm(name="ln_emb")(emb)
        flat_ln = layers.Reshape((fields * config.embedding_dim,), name="ln_emb_flat")(ln_emb)
        if dense:
            flat_ln = layers.Concatenate(name="ln_emb_with_numerics")([flat_ln, inputs["num_values"]])
    else:  # ablation: the blocks see the raw embedding
        flat_ln = flat_emb

    if config.model == "sermasknet":
        h = flat_ln
        for i in range(config.num_blocks):
            h = _mask_block(config, i)([flat_emb, h])
        return keras.Model(inputs, _prediction(h), name="sermasknet")

    blocks = [_mask_block(config, i)([flat_emb, flat_ln]) for i in range(config.num_blocks)]
    h = blocks[0] if len(blocks) == 1 else layers.Concatenate(name="blocks")(blocks)
    return keras.Model(inputs, _prediction(_mlp(h, config)), name="paramasknet")


def _mask_block(config: ModelConfig, i: int) -> MaskBlock:
    """The i-th MaskBlock as the config says (both architectures build theirs here)."""
    return MaskBlock(
        config.block_units,
        config.reduction_ratio,
        dropout=config.dropout,
        norm=config.block_norm,
        name=f"mask_block_{i}",
    )


def _mlp(h: keras.KerasTensor, config: ModelConfig) -> keras.KerasTensor:
    """ReLU layers of ``config.mlp_units``, each followed by dropout when configured."""
    for i, units in enumerate(config.mlp_units):
        h = layers.Dense(units, activation="relu", name=f"mlp_{i}")(h)
        if config.dropout:
            h = layers.Dropout(config.dropout, name=f"dropout_{i}")(h)
    return h


def _prediction(h: keras.KerasTensor) -> keras.KerasTensor:
    """The prediction layer: a sigmoid CTR, kept in float32 under mixed precision."""
    return layers.Dense(1, activation="sigmoid", name="ctr", dtype="float32")(h)
