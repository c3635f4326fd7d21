"""AppTest fixtures: each test gets its own lab home (its own saved workspace) sharing the converted model."""

from pathlib import Path

from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parent.parent.parent


def open_app(page: str | None = None, query: dict | None = None, **state) -> AppTest:
    """Run the app (a new browser session), optionally with the URL's query parameters and session state set
    first, and on another page."""
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.query_params.update(query or {})
    for key, value in state.items():
        at.session_state[key] = value
    at.run()
    if page:
        at.switch_page(page).run()
    return at


def html_of(at: AppTest) -> str:
    return "\n".join(h.value for h in at.get("html"))
