"""The retailsim dashboard: ``retailsim app DATASET ...`` (or ``streamlit run main.py -- DATASET ...``).

A router (``st.navigation``) over the pages in ``views/`` (not ``pages/``: a folder of that name beside the
main script switches Streamlit to its legacy multipage mode, where a page URL such as ``/quality`` would run
the page file alone, without this router). The sidebar picks the dataset when several were given.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from retailsim.app import data, ui
from retailsim.app.pages import PAGES

HERE = Path(__file__).parent


KEEP_ACROSS_DATASETS = ("sql_history",)


def _forget_page_state() -> None:
    """Another dataset: drop the pages' widget values (date ranges, ids, forms) that belong to the old one."""
    for k in list(st.session_state.keys()):
        if k != data.SELECTED_KEY and k not in KEEP_ACROSS_DATASETS:
            del st.session_state[k]


def _sidebar() -> None:
    paths = data.dataset_paths()
    with st.sidebar:
        st.markdown("### retailsim")
        if not paths:
            st.caption("No dataset open.")
            return
        options = [str(p) for p in paths]
        if st.session_state.get(data.SELECTED_KEY) not in options:
            st.session_state[data.SELECTED_KEY] = options[0]
        if len(options) > 1:
            st.selectbox(
                "Dataset",
                options,
                key=data.SELECTED_KEY,
                on_change=_forget_page_state,
                format_func=lambda p: Path(p).name,
                help="The app was started on several datasets; every page uses the one chosen here.",
            )
        ctx = data.current()
        if ctx is None:
            return
        try:
            ds = ctx.ds
        except Exception as err:
            ui.error(f"Cannot open {ctx.path}", err)
            return
        tx = ds.rows("transactions")
        lines = ds.rows("transaction_lines")
        st.caption(
            f"**{ctx.name}** · {ds.kind} · {ds.format}  \n"
            f"{tx:,} transactions" + (f" · {lines:,} lines" if lines else "") + f"  \n`{ctx.path}`"
        )


def main() -> None:
    st.set_page_config(page_title="retailsim", page_icon=":material/shopping_cart:", layout="wide")
    _sidebar()
    nav = {
        group: [
            st.Page(str(HERE / file), title=title, icon=icon, default=(file == "views/overview.py"))
            for file, title, icon in pages
        ]
        for group, pages in PAGES.items()
    }
    st.navigation(nav).run()


main()
