"""The one decorator that registers every public attnkit Keras class for saving."""

from __future__ import annotations

import keras

PACKAGE = "attnkit"


def register(cls):
    """Register ``cls`` as ``"attnkit>ClassName"`` so ``.keras`` files reload without custom_objects."""
    return keras.saving.register_keras_serializable(package=PACKAGE)(cls)
