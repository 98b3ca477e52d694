"""Which categories lack a visitor-facing title or description in a shipped locale.

A category's text comes from its [[categories]] entry (per locale), else from the locale files
(identity, personalization, and the catalog purposes' common ids: analytics, marketing,
functional). Without either, visitors see a generic title; `check-config` warns so the operator
can write one.
"""

from __future__ import annotations

from typing import Any

from gateway.config import Config


def missing_texts(config: Config, locales: dict[str, dict[str, Any]]) -> list[str]:
    out = []
    for c in config.categories:
        for key in ("title", "description"):
            for locale in sorted(locales):
                builtin = locales[locale].get("categories", {}).get(c.id, {}).get(key)
                if locale not in getattr(c, key) and not builtin:
                    out.append(f"category {c.id!r} has no {key} in {locale} (shipped locale): add "
                               f'{key} = {{ "{locale}" = "..." }} to its [[categories]] entry')
    return out
