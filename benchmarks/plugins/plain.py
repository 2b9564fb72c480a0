"""The scikit-learn plugin without its batch hook: what most users write first.

Same model work as ``drucker_sklearn`` (its own hook functions), so the difference to the
``drucker`` target is only the batch hook.
"""

from drucker_sklearn import drucker_load_model, drucker_predict, drucker_signature

__all__ = ["drucker_load_model", "drucker_predict", "drucker_signature"]
