"""Reading and writing datasets: files, manifest, atomic output folders, DuckDB views."""
