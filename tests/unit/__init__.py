"""Tests of one layer; see tests/README or the README's "Run the tests"."""
