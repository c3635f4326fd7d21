"""SFT Lab: the page config, the navigation and the shared sidebar; each page lives in app_pages/.

Not `pages/`: Streamlit treats a `pages/` folder as its older multipage mode until st.navigation runs,
and AppTest resets that flag on every run, so reruns there would skip this script and its sidebar.
"""

import streamlit as st

import app_state

st.set_page_config(page_title="SFT Lab", page_icon="🧪", layout="wide")
navigation = st.navigation(
    [
        st.Page("app_pages/examples.py", title="Examples", icon=":material/edit_note:", default=True),
        st.Page("app_pages/tokens.py", title="Tokens & labels", icon=":material/token:", url_path="tokens"),
        st.Page(
            "app_pages/side_by_side.py",
            title="Templates side by side",
            icon=":material/view_column:",
            url_path="templates",
        ),
        st.Page("app_pages/train.py", title="Train", icon=":material/model_training:", url_path="train"),
        st.Page("app_pages/compare.py", title="Compare runs", icon=":material/compare:", url_path="compare"),
        st.Page("app_pages/inside.py", title="Inside the model", icon=":material/neurology:", url_path="inside"),
        st.Page("app_pages/decoding.py", title="Decoding", icon=":material/alt_route:", url_path="decoding"),
        st.Page("app_pages/ratio.py", title="Generation ratio", icon=":material/bar_chart:", url_path="ratio"),
        st.Page("app_pages/plan.py", title="Will it fit?", icon=":material/memory:", url_path="plan"),
    ]
)
app_state.sidebar()
navigation.run()
