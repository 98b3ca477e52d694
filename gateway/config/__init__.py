"""TOML configuration → frozen dataclasses, validated once at start.

Every error names the file and, where it can be found, the line, so an operator can fix a bad
file without guessing. Nothing here runs per request.

    model.py     the dataclasses, their defaults (the one place for them) and the format's constants
    reader.py    TomlReader: typed values, known keys, errors located in the text
    network.py   the [gateway] table; upstream and origin URLs
    sections.py  [consent], [[categories]], [cookies], [log], [catalog], [admin]
    load.py      load_config / parse_config: a file or text → Config
The [banner] table is gateway/bannerconfig.py. gateway/default.toml shows every key.
"""

from gateway.config.load import build, default_config_path, load_config, parse_config
from gateway.config.model import (
    CATEGORY_ID,
    COOKIE_GLOB,
    DEFAULT_BROWSER_FEATURES,
    DEFAULT_CONSENT_MODE,
    DEFAULT_PURPOSES,
    FEATURE_NAME,
    GCM_SIGNALS,
    LOCALE,
    MAX_AGE_DAYS_LIMIT,
    MODES,
    SHIPPED_KEY_PREFIX,
    AdminSettings,
    CatalogSettings,
    Category,
    Config,
    ConsentSettings,
    CookieSettings,
    GatewaySettings,
    LogSettings,
    Upstream,
    field_defaults,
)
from gateway.config.network import normalise_origin, parse_upstream
from gateway.config.reader import TomlReader

_Builder = TomlReader  # the name gateway.bannerconfig's type hint uses

__all__ = [
    "CATEGORY_ID", "COOKIE_GLOB", "DEFAULT_BROWSER_FEATURES", "DEFAULT_CONSENT_MODE", "DEFAULT_PURPOSES",
    "FEATURE_NAME", "GCM_SIGNALS", "LOCALE", "MAX_AGE_DAYS_LIMIT", "MODES", "SHIPPED_KEY_PREFIX",
    "AdminSettings", "CatalogSettings", "Category", "Config", "ConsentSettings", "CookieSettings",
    "GatewaySettings", "LogSettings", "TomlReader", "Upstream", "build", "default_config_path",
    "field_defaults", "load_config", "normalise_origin", "parse_config", "parse_upstream",
]
