"""Benchmarks: each prints its baseline and its ratio to it, measured in the same run."""

from __future__ import annotations
