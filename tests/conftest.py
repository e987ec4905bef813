"""Fixtures shared by every test package."""

from __future__ import annotations

from tests.cardcheck import card_validator as card_validator
