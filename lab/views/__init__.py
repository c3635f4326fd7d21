"""What the pages show, built without Streamlit so that it is unit tested: HTML and plotly figures.

chips    token chips with a label row per strategy, loss heat chips, the rendered text (all user text escaped)
figures  the Rg histogram, the prompt's share of the loss, loss curves, one position's candidates, the
         memory plan's bars
run_rows runs as table rows (Train's runs table, Compare runs)
"""

from lab.views.chips import (
    audit_badges,
    legend,
    loss_chips,
    rendered_text,
    role_legend,
    sentences,
    text_view,
    token_chips,
)
from lab.views.figures import (
    candidates_figure,
    loss_curves,
    loss_share_curve,
    plan_figure,
    ratio_histogram,
    runs_curves,
)

__all__ = [
    "audit_badges",
    "candidates_figure",
    "legend",
    "loss_chips",
    "loss_curves",
    "loss_share_curve",
    "plan_figure",
    "ratio_histogram",
    "rendered_text",
    "role_legend",
    "runs_curves",
    "sentences",
    "text_view",
    "token_chips",
]
