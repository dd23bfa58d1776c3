"""Pretrained token embeddings from a local checkpoint folder (a tiny fake one made here)."""

import json

import keras
import numpy as np
import pytest
from safetensors.numpy import save_file
from tokenizers import Tokenizer, models, pre_tokenizers

from attnkit.data.pretrained import load_word_embeddings, resolve_checkpoint
from attnkit.errors import ConfigError, DataError
from attnkit.tasks.text_classification import TextClassificationPreprocessor, TextClassifier
from attnkit.tasks.text_classification.task import TextClassificationTask

VOCAB = ["[PAD]", "[UNK]", "good", "bad", "film", "."]


def make_checkpoint(folder, dim=4, key="bert.embeddings.word_embeddings.weight"):
    folder.mkdir(parents=True, exist_ok=True)
    tokenizer = Tokenizer(models.WordLevel({t: i for i, t in enumerate(VOCAB)}, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer.enable_padding(length=16)  # a checkpoint's own padding must not leak into attnkit
    tokenizer.save(str(folder / "tokenizer.json"))
    matrix = np.arange(len(VOCAB) * dim, dtype="float32").reshape(len(VOCAB), dim)
    save_file({key: matrix, "other.weight": np.zeros((2, 2), "float32")}, str(folder / "model.safetensors"))
    return matrix


def test_loads_the_word_embedding_matrix(tmp_path):
    matrix = make_checkpoint(tmp_path / "ckpt")
    np.testing.assert_array_equal(load_word_embeddings(resolve_checkpoint(str(tmp_path / "ckpt"))), matrix)


def test_folder_without_weights_is_a_data_error(tmp_path):
    (tmp_path / "ckpt").mkdir()
    (tmp_path / "ckpt" / "tokenizer.json").write_text("{}")
    with pytest.raises(DataError, match="model.safetensors is missing"):
        resolve_checkpoint(str(tmp_path / "ckpt"))


def test_checkpoint_without_embeddings_tensor(tmp_path):
    make_checkpoint(tmp_path / "ckpt", key="encoder.weight")
    with pytest.raises(DataError, match="word_embeddings"):
        load_word_embeddings(tmp_path / "ckpt")


def test_preprocessor_uses_checkpoint_tokenizer_without_padding(tmp_path):
    make_checkpoint(tmp_path / "ckpt")
    pre = TextClassificationPreprocessor.fit(
        ["good film", "bad film"], ["1", "0"], pretrained=str(tmp_path / "ckpt")
    )
    assert pre.encode_texts(["good film .", "unseen"]) == [[2, 4, 5], [1]]
    with pytest.raises(ConfigError, match="alternative vocabularies: set only one"):
        TextClassificationPreprocessor.fit(
            ["a"], ["1"], pretrained=str(tmp_path / "ckpt"), vocab_file=str(tmp_path / "v.txt")
        )


def test_task_copies_embeddings_into_the_model(tmp_path):
    matrix = make_checkpoint(tmp_path / "ckpt")
    task = TextClassificationTask()
    recipe = {"preprocess": {"pretrained": str(tmp_path / "ckpt")}}
    model = TextClassifier(vocabulary_size=len(VOCAB), num_classes=2, embedding_dim=4, units=2)
    task.initialize_model(model, None, recipe)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(model.get_layer("embedding").embeddings), matrix)
    wrong = TextClassifier(vocabulary_size=len(VOCAB), num_classes=2, embedding_dim=3, units=2)
    with pytest.raises(ConfigError, match="embedding_dim=4"):
        task.initialize_model(wrong, None, recipe)


def test_frozen_embeddings_are_not_trainable():
    model = TextClassifier(vocabulary_size=10, num_classes=2, embedding_dim=4, units=2, freeze_embeddings=True)
    assert not model.get_layer("embedding").trainable
    assert json.loads(json.dumps(model.get_config()))["freeze_embeddings"] is True
