"""Where the engine looks for models and photos when none are given.

In a checkout with the project's ``shared/`` folder beside it (as on the project's own machines and
CI) the offline models and labelled photos there are used; elsewhere the user points at their own
(``RUFINA_ALPR_MODELS``, ``--models``, ``--photos``) or gets fast-alpr's default download.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Final

REPOSITORY: Final = Path(__file__).resolve().parents[2]
SHARED: Final = REPOSITORY.parent / "shared"


def default_models_dir() -> Path | None:
    configured = os.environ.get("RUFINA_ALPR_MODELS")
    if configured:
        return Path(configured).expanduser()
    candidate = SHARED / "models"
    return candidate if candidate.is_dir() else None


def default_photos_dir() -> Path | None:
    candidate = SHARED / "data" / "openalpr-eu-dev"
    return candidate if candidate.is_dir() else None


def default_registry() -> Path | None:
    candidate = REPOSITORY / "frigate_config" / "stations.yaml"
    return candidate if candidate.is_file() else None
