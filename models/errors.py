"""One small exception hierarchy for the models package."""

from __future__ import annotations


class ModelError(Exception):
    """Anything the models package refuses to do, with the reason and the fix."""


class FeatureError(ModelError, ValueError):
    """Input data cannot make the features a model needs (missing, too sparse, unknown)."""


class SchemaMismatchError(ModelError):
    """A saved model was trained on another feature-schema version than this code builds."""


class NoModelError(ModelError):
    """The registry holds no model that may be served."""
