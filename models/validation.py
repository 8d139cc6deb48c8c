"""Semantic validation of a problem (placeholder until the rules land)."""

from __future__ import annotations

from models.problem import FieldError, Problem


def semantic_errors(problem: Problem) -> list[FieldError]:
    return []
