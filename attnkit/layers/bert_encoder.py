"""A BERT encoder (Hugging Face ``BertModel`` layout) that gives contextual word embeddings."""

from __future__ import annotations

import hashlib
import json
import math
import os
import uuid
import zipfile
from pathlib import Path

import keras
import numpy as np
from keras import ops

from attnkit.errors import ConfigError, DataError
from attnkit.layers.export import register
from attnkit.layers.masking import masked_softmax

_BLOCK_PARTS = ("query", "key", "value", "attention_output", "attention_norm", "intermediate",
                "output", "output_norm")
# attnkit sublayer -> Hugging Face tensor prefix of one encoder layer
_HF_NAMES = {
    "query": "attention.self.query",
    "key": "attention.self.key",
    "value": "attention.self.value",
    "attention_output": "attention.output.dense",
    "attention_norm": "attention.output.LayerNorm",
    "intermediate": "intermediate.dense",
    "output": "output.dense",
    "output_norm": "output.LayerNorm",
}


@register
class BertEncoder(keras.layers.Layer):
    """BERT's embeddings and its first ``num_layers`` transformer layers (post-LayerNorm,
    exact GELU), over word-piece ids without special tokens: the layer adds ``[CLS]`` and
    ``[SEP]`` around each sequence itself and returns one contextual vector per input token
    (batch, time, hidden_size), zero at padding (id 0). An id 0 inside a sequence (a word
    erased by PSS) keeps its position, is left out of the self-attention and comes out as zero.

    Paper-specified: BERT word embeddings for the plagiarism detector (Moravvej et al.).
    Weights come from a local Hugging Face checkpoint (``model.safetensors``) with
    :meth:`load_checkpoint`; ``num_layers`` may be fewer than the checkpoint has (a
    truncated encoder). Library choice: with ``cache_size > 0`` a frozen encoder
    (``trainable=False``) remembers the output of each distinct sequence it has run in eager
    mode, so a frozen BERT costs one forward pass per training text rather than one per epoch
    (and per DE fitness evaluation). :meth:`use_disk_cache` also keeps those outputs in a
    folder, keyed by a fingerprint of the weights, so later runs (other seeds, other
    configurations) skip BERT for every text an earlier run saw.

    Args:
        vocabulary_size: int. Word-piece vocabulary size.
        hidden_size: int. Model width (384 for all-MiniLM-L6-v2, 768 for BERT-base).
        num_layers: int. Transformer layers to run.
        num_heads: int. Attention heads per layer.
        intermediate_size: int. Feed-forward width.
        max_positions: int. Position embeddings (sequences may have max_positions - 2 tokens).
        type_vocabulary_size: int. Token-type embeddings (segment ids; all 0 here).
        epsilon: float. LayerNorm epsilon.
        cls_id, sep_id: int. Ids of ``[CLS]`` and ``[SEP]``.
        cache_size: int. Sequences a frozen encoder remembers (0 = no cache).

    Example:
        >>> bert = BertEncoder(vocabulary_size=50, hidden_size=8, num_layers=1, num_heads=2,
        ...                    intermediate_size=16, max_positions=16, cls_id=2, sep_id=3)
        >>> tuple(bert(np.array([[5, 6, 7, 0]])).shape)
        (1, 4, 8)
    """

    def __init__(
        self,
        vocabulary_size: int,
        hidden_size: int = 384,
        num_layers: int = 6,
        num_heads: int = 12,
        intermediate_size: int = 1536,
        max_positions: int = 512,
        type_vocabulary_size: int = 2,
        epsilon: float = 1e-12,
        cls_id: int = 101,
        sep_id: int = 102,
        cache_size: int = 0,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        if hidden_size % num_heads:
            raise ValueError(f"hidden_size {hidden_size} is not divisible by num_heads {num_heads}")
        if num_layers < 1:
            raise ValueError(f"num_layers must be >= 1, got {num_layers}")
        self.vocabulary_size = vocabulary_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.num_heads = num_heads
        self.intermediate_size = intermediate_size
        self.max_positions = max_positions
        self.type_vocabulary_size = type_vocabulary_size
        self.epsilon = epsilon
        self.cls_id = cls_id
        self.sep_id = sep_id
        self.cache_size = cache_size
        self.supports_masking = True
        self._cache: dict[bytes, np.ndarray] = {}
        self._disk_cache: Path | None = None

        self.word_embeddings = keras.layers.Embedding(vocabulary_size, hidden_size,
                                                      name="word_embeddings")
        self.position_embeddings = keras.layers.Embedding(max_positions, hidden_size,
                                                          name="position_embeddings")
        self.token_type_embeddings = keras.layers.Embedding(type_vocabulary_size, hidden_size,
                                                            name="token_type_embeddings")
        self.embeddings_norm = keras.layers.LayerNormalization(epsilon=epsilon,
                                                               name="embeddings_norm")
        self.blocks = []
        for index in range(num_layers):
            dense = {
                part: keras.layers.Dense(
                    intermediate_size if part == "intermediate" else hidden_size,
                    name=f"layer_{index}_{part}",
                )
                for part in ("query", "key", "value", "attention_output", "intermediate", "output")
            }
            for part in ("attention_norm", "output_norm"):
                dense[part] = keras.layers.LayerNormalization(epsilon=epsilon,
                                                              name=f"layer_{index}_{part}")
            self.blocks.append(dense)

    def build(self, input_shape) -> None:
        hidden = (None, None, self.hidden_size)
        for layer in (self.word_embeddings, self.position_embeddings, self.token_type_embeddings):
            layer.build((None, None))
        self.embeddings_norm.build(hidden)
        for block in self.blocks:
            for part in _BLOCK_PARTS:
                if part == "output":
                    block[part].build((None, None, self.intermediate_size))
                else:
                    block[part].build(hidden)

    # --- the transformer ---
    def _block(self, x, block: dict, attention_mask):
        batch, time = ops.shape(x)[0], ops.shape(x)[1]
        head_size = self.hidden_size // self.num_heads

        def heads(values):
            values = ops.reshape(values, (batch, time, self.num_heads, head_size))
            return ops.transpose(values, (0, 2, 1, 3))

        query, key, value = (heads(block[name](x)) for name in ("query", "key", "value"))
        scores = ops.matmul(query, ops.transpose(key, (0, 1, 3, 2))) / math.sqrt(head_size)
        weights = masked_softmax(scores, attention_mask, axis=-1)
        context = ops.reshape(ops.transpose(ops.matmul(weights, value), (0, 2, 1, 3)),
                              (batch, time, self.hidden_size))
        x = block["attention_norm"](x + block["attention_output"](context))
        hidden = keras.activations.gelu(block["intermediate"](x), approximate=False)
        return block["output_norm"](x + block["output"](hidden))

    def contextual(self, token_ids, mask=None):
        """Run BERT on ids that already hold ``[CLS] ... [SEP]`` (batch, time, hidden_size)."""
        token_ids = ops.cast(token_ids, "int32")
        mask = ops.not_equal(token_ids, 0) if mask is None else ops.cast(mask, "bool")
        positions = ops.arange(ops.shape(token_ids)[1], dtype="int32")
        x = (self.word_embeddings(token_ids) + self.position_embeddings(positions)[None]
             + self.token_type_embeddings(ops.zeros_like(token_ids)))
        x = self.embeddings_norm(x)
        attention_mask = mask[:, None, None, :]
        for block in self.blocks:
            x = self._block(x, block, attention_mask)
        return x * ops.cast(mask, x.dtype)[..., None]

    def _wrap(self, token_ids, mask):
        """``[CLS]`` before each sequence, ``[SEP]`` after its last kept token: the wrapped ids
        (batch, time + 2), which of them BERT attends to, and the kept input positions."""
        token_ids = ops.cast(token_ids, "int32")
        keep = ops.cast(mask, "int32")
        time = ops.shape(token_ids)[1]
        lengths = ops.max(ops.arange(1, time + 1, dtype="int32")[None, :] * keep, axis=1)[:, None]
        positions = ops.arange(time + 2, dtype="int32")[None, :]
        wrapped = ops.pad(token_ids * keep, [[0, 0], [1, 1]])
        is_cls, is_sep = ops.equal(positions, 0), ops.equal(positions, lengths + 1)
        wrapped = ops.where(is_cls, self.cls_id, wrapped)
        wrapped = ops.where(is_sep, self.sep_id, wrapped)
        attend = ops.logical_or(ops.cast(ops.pad(keep, [[0, 0], [1, 1]]), "bool"),
                                ops.logical_or(is_cls, is_sep))
        return wrapped, attend, keep

    def _encode(self, token_ids, mask):
        """One vector per input token; masked tokens inside a sequence (erased words, id 0)
        keep their position but are left out of the self-attention and come out as zero."""
        wrapped, attend, keep = self._wrap(token_ids, mask)
        outputs = self.contextual(wrapped, attend)
        return outputs[:, 1:-1] * ops.cast(keep, outputs.dtype)[..., None]

    def call(self, token_ids, mask=None):
        mask = ops.not_equal(token_ids, 0) if mask is None else ops.cast(mask, "bool")
        if self._can_cache(token_ids):
            return self._cached(token_ids, mask)
        return self._encode(token_ids, mask)

    # --- the frozen-output cache ---
    def _can_cache(self, token_ids) -> bool:
        if not self.cache_size or self.trainable:
            return False
        import torch

        if not isinstance(token_ids, torch.Tensor) or token_ids.device.type == "meta":
            return False  # symbolic tracing
        return not torch.compiler.is_compiling()

    def _cached(self, token_ids, mask):
        keep = ops.convert_to_numpy(ops.cast(mask, "int32")).astype(np.int32)
        ids = ops.convert_to_numpy(token_ids).astype(np.int32) * keep
        # each sequence up to its last kept token: an erased word (id 0 inside) is its own key
        lengths = (np.arange(1, ids.shape[1] + 1)[None, :] * keep).max(axis=1, initial=0)
        keys = [ids[row, : lengths[row]].tobytes() for row in range(len(ids))]
        missing = [row for row, key in enumerate(keys) if key not in self._cache]
        fresh = {}
        if missing:
            width = max(1, *(int(lengths[row]) for row in missing))
            computed = ops.convert_to_numpy(self._encode(ids[missing, :width],
                                                         keep[missing, :width]))
            for position, row in enumerate(missing):
                fresh[keys[row]] = self._cache_entry(computed[position], int(lengths[row]))
                if len(self._cache) < self.cache_size:
                    self._cache[keys[row]] = fresh[keys[row]]
            if self._disk_cache is not None:
                self._store(fresh)
        entries = [fresh[key] if key in fresh else self._cache[key] for key in keys]
        return ops.convert_to_tensor(self._assemble(entries, ids.shape))

    # How one sequence's output is kept: (rows, hidden_size) float32, here one row per token.
    def _cache_entry(self, output: np.ndarray, length: int) -> np.ndarray:
        return output[:length]

    def _assemble(self, entries: list[np.ndarray], shape: tuple[int, int]) -> np.ndarray:
        output = np.zeros((*shape, self.hidden_size), dtype="float32")
        for row, entry in enumerate(entries):
            output[row, : len(entry)] = entry
        return output

    def clear_cache(self) -> None:
        """Forget the cached outputs (in memory; a disk cache folder is detached, not deleted)."""
        self._cache.clear()
        self._disk_cache = None

    def fingerprint(self) -> str:
        """A hash of everything the outputs depend on: the settings and every weight value."""
        if not self.built:
            self.build((None, None))
        digest = hashlib.sha256(json.dumps({
            "format": 1, "hidden_size": self.hidden_size, "num_layers": self.num_layers,
            "num_heads": self.num_heads, "epsilon": self.epsilon, "cls_id": self.cls_id,
            "sep_id": self.sep_id, **self._fingerprint_extra(),
        }, sort_keys=True).encode())
        for variable in self.weights:
            value = np.ascontiguousarray(ops.convert_to_numpy(variable), dtype=np.float32)
            digest.update(str(value.shape).encode())
            digest.update(value.tobytes())
        return digest.hexdigest()[:24]

    def _fingerprint_extra(self) -> dict:
        """Further settings the cached outputs depend on (subclasses: their pooling)."""
        return {}

    def use_disk_cache(self, directory: str | Path) -> Path:
        """Keep the frozen-output cache in ``directory/<fingerprint>/`` too: load what earlier
        runs stored there (up to ``cache_size`` sequences) and add every newly computed output
        as it is made. Returns that folder. :meth:`load_checkpoint` detaches it, since the
        weights change.

        Example:
            >>> bert.use_disk_cache(Path(".attnkit") / "cache" / "bert")  # doctest: +SKIP
            PosixPath('.attnkit/cache/bert/5c1e...')
        """
        if not self.cache_size:
            raise ConfigError("a disk cache needs cache_size > 0")
        folder = Path(directory) / self.fingerprint()
        folder.mkdir(parents=True, exist_ok=True)
        for path in sorted(folder.glob("*.npz")):
            if len(self._cache) >= self.cache_size:
                break
            try:
                with np.load(path) as stored:
                    lengths, ids, vectors = stored["lengths"], stored["ids"], stored["vectors"]
                    # vector rows per sequence (files from before "rows": one per token)
                    rows = stored["rows"] if "rows" in stored.files else lengths
            except (OSError, ValueError, KeyError, zipfile.BadZipFile):
                continue  # a file another process is writing, or not ours
            ends, row_ends = np.cumsum(lengths), np.cumsum(rows)
            for end, length, row_end, count in zip(ends, lengths, row_ends, rows, strict=True):
                key = ids[end - length:end].astype(np.int32).tobytes()
                if key not in self._cache and len(self._cache) < self.cache_size:
                    self._cache[key] = vectors[row_end - count:row_end]
        self._disk_cache = folder
        return folder

    def _store(self, outputs: dict[bytes, np.ndarray]) -> None:
        """Write newly computed outputs as one ``.npz`` file (atomically: write, then rename)."""
        keys = list(outputs)
        arrays = {
            "lengths": np.array([len(key) // 4 for key in keys], dtype=np.int64),
            "rows": np.array([len(outputs[key]) for key in keys], dtype=np.int64),
            "ids": np.concatenate([np.frombuffer(key, dtype=np.int32) for key in keys]),
            "vectors": np.concatenate([outputs[key] for key in keys]).astype(np.float32),
        }
        name = uuid.uuid4().hex
        partial = self._disk_cache / f"{name}.part"
        with open(partial, "wb") as handle:
            np.savez(handle, **arrays)
        os.replace(partial, self._disk_cache / f"{name}.npz")

    # --- weights from a Hugging Face checkpoint ---
    def load_checkpoint(self, checkpoint: str | Path) -> None:
        """Assign the weights of a ``BertModel`` checkpoint folder (``model.safetensors``).

        Tensors may carry a prefix (``bert.``); a checkpoint of another size is an error that
        names the tensor.
        """
        from safetensors.numpy import load_file

        path = Path(checkpoint) / "model.safetensors"
        if not path.is_file():
            raise DataError(path.parent, "not a checkpoint folder: model.safetensors is missing")
        tensors = load_file(str(path))
        if not self.built:
            self.build((None, None))
        self.clear_cache()

        def tensor(name: str) -> np.ndarray:
            found = [key for key in tensors if key == name or key.endswith("." + name)]
            if len(found) != 1:
                raise DataError(path, f"expected one tensor named '*{name}', found {found or 'none'}")
            return tensors[found[0]]

        def assign(variable, name: str, transpose: bool = False) -> None:
            value = tensor(name).T if transpose else tensor(name)
            if tuple(variable.shape) != value.shape:
                raise ConfigError(
                    f"{path}: tensor {name} has shape {value.shape}, the encoder expects "
                    f"{tuple(variable.shape)}; set the model's BERT sizes to the checkpoint's"
                )
            variable.assign(value.astype("float32"))

        assign(self.word_embeddings.embeddings, "embeddings.word_embeddings.weight")
        assign(self.position_embeddings.embeddings, "embeddings.position_embeddings.weight")
        assign(self.token_type_embeddings.embeddings, "embeddings.token_type_embeddings.weight")
        assign(self.embeddings_norm.gamma, "embeddings.LayerNorm.weight")
        assign(self.embeddings_norm.beta, "embeddings.LayerNorm.bias")
        for index, block in enumerate(self.blocks):
            for part, name in _HF_NAMES.items():
                prefix = f"encoder.layer.{index}.{name}"
                if part.endswith("norm"):
                    assign(block[part].gamma, f"{prefix}.weight")
                    assign(block[part].beta, f"{prefix}.bias")
                else:
                    assign(block[part].kernel, f"{prefix}.weight", transpose=True)
                    assign(block[part].bias, f"{prefix}.bias")

    def compute_output_shape(self, input_shape):
        return (*input_shape, self.hidden_size)

    def compute_mask(self, token_ids, mask=None):
        return mask

    def get_config(self) -> dict:
        config = super().get_config()
        config.update({
            "vocabulary_size": self.vocabulary_size,
            "hidden_size": self.hidden_size,
            "num_layers": self.num_layers,
            "num_heads": self.num_heads,
            "intermediate_size": self.intermediate_size,
            "max_positions": self.max_positions,
            "type_vocabulary_size": self.type_vocabulary_size,
            "epsilon": self.epsilon,
            "cls_id": self.cls_id,
            "sep_id": self.sep_id,
            "cache_size": self.cache_size,
        })
        return config


@register
class SentenceEncoder(BertEncoder):
    """A BERT sentence encoder (Sentence-BERT): the checkpoint's ``num_layers`` transformer
    layers over ``[CLS] tokens [SEP]``, mean-pooled over those real positions and L2-normalised,
    one unit vector per sequence (batch, hidden_size).

    Library choice: the pooling of the sentence-transformers checkpoints such as
    all-MiniLM-L6-v2 (trained on paraphrase pairs for the cosine of these vectors), so the
    pair classifier can take Sentence-BERT features. The weights, the arguments, the
    frozen-output cache (one vector per distinct sequence) and :meth:`use_disk_cache` are
    :class:`BertEncoder`'s; the disk cache's fingerprint includes the pooling, so token and
    sentence outputs of the same weights never share a folder.

    Example:
        >>> encoder = SentenceEncoder(vocabulary_size=50, hidden_size=8, num_layers=1,
        ...                           num_heads=2, intermediate_size=16, max_positions=16,
        ...                           cls_id=2, sep_id=3)
        >>> vectors = keras.ops.convert_to_numpy(encoder(np.array([[5, 6, 7, 0]])))
        >>> vectors.shape, round(float(np.linalg.norm(vectors[0])), 4)
        ((1, 8), 1.0)
    """

    def _encode(self, token_ids, mask):
        wrapped, attend, _ = self._wrap(token_ids, mask)
        outputs = self.contextual(wrapped, attend)  # zero where not attended
        count = ops.sum(ops.cast(attend, outputs.dtype), axis=1, keepdims=True)
        mean = ops.sum(outputs, axis=1) / ops.maximum(count, 1.0)
        return mean / ops.maximum(ops.norm(mean, axis=-1, keepdims=True), 1e-12)

    def _cache_entry(self, output: np.ndarray, length: int) -> np.ndarray:
        return output[None]

    def _assemble(self, entries: list[np.ndarray], shape: tuple[int, int]) -> np.ndarray:
        return np.concatenate(entries).astype("float32", copy=False)

    def _fingerprint_extra(self) -> dict:
        return {"pooling": "mean-l2"}

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.hidden_size)

    def compute_mask(self, token_ids, mask=None):
        return None
