"""Bundles: a plugin, its model and pinned dependencies, stored and built into a Docker image.

This package knows files, wheels and Docker; it never imports the server or the user's plugin.
"""
