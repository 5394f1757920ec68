"""Names shared by the ``retailsim app`` command and the dashboard (no Streamlit import here)."""

from __future__ import annotations

ENV_DATASETS = "RETAILSIM_APP_DATASETS"
"""Dataset folders the dashboard opens, separated by ``os.pathsep``."""

ENV_MODELS = "RETAILSIM_APP_MODELS"
"""Extra folders holding trained models, separated by ``os.pathsep``."""
