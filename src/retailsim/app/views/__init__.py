"""The dashboard pages, one script each; ``main.py`` routes to them with ``st.navigation``."""
