"""The former home of the local evaluation results, kept so that old imports work: see
:mod:`drucker.store.local.results`."""

from drucker.store.base import DETAILS_KEY, SUMMARY_SUFFIX
from drucker.store.local.results import MAX_RESULT_NAME_LENGTH, LocalResults

__all__ = ["DETAILS_KEY", "MAX_RESULT_NAME_LENGTH", "SUMMARY_SUFFIX", "LocalResults", "ResultStore"]

ResultStore = LocalResults  # its name before the backends were paired
