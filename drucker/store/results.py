"""The former home of the local evaluation results, kept so that old imports work: see
:mod:`drucker.store.local.results`."""

from drucker.store.local.results import (
    DETAILS_KEY,
    MAX_RESULT_NAME_LENGTH,
    SUMMARY_SUFFIX,
    LocalResults,
)

__all__ = ["DETAILS_KEY", "MAX_RESULT_NAME_LENGTH", "SUMMARY_SUFFIX", "LocalResults", "ResultStore"]

ResultStore = LocalResults  # its name before the backends were paired
