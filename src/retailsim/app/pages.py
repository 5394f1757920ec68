"""The dashboard's pages: file under ``views/``, title and icon, by sidebar group (no Streamlit import, so the
benchmarks and tests can list the pages without running the app)."""

from __future__ import annotations

PAGES: dict[str, list[tuple[str, str, str]]] = {
    "Explore": [
        ("views/overview.py", "Overview", ":material/dashboard:"),
        ("views/explore.py", "Explore (EDA)", ":material/insights:"),
        ("views/schema_data.py", "Schema & data", ":material/table_chart:"),
        ("views/sql_explorer.py", "SQL explorer", ":material/terminal:"),
    ],
    "Check": [
        ("views/quality.py", "Data quality", ":material/fact_check:"),
        ("views/loyalty.py", "Loyalty", ":material/workspace_premium:"),
    ],
    "Predict": [
        ("views/customer.py", "Customer 360 & prediction", ":material/person_search:"),
        ("views/batch.py", "Batch scoring", ":material/batch_prediction:"),
        ("views/models.py", "Models", ":material/model_training:"),
    ],
}


#: Every page file, in sidebar order.
PAGE_FILES: tuple[str, ...] = tuple(file for group in PAGES.values() for file, _, _ in group)
