"""Plotly figures the pages show, built here (no streamlit) so that they are tested as JSON.

Colours mean datasets: every trace sets its colour (Okabe-Ito) so that no theme changes it; the pages draw
these with `theme=None`.
"""

from __future__ import annotations

import html
import math

import numpy as np
import plotly.graph_objects as go

from lab.labels.ratio import RatioStats, prompt_loss_share
from lab.labels.tokens import visible

# Distinct for the common colour-vision deficiencies (Okabe-Ito) and readable on a projector.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#D55E00", "#56B4E9")
BINS_PER_DECADE = 10  # bins of 0.1 in log10: each bin spans a factor of 10**0.1 = 1.26
MARKER_TEXT = ("middle left", "middle right", "top left", "bottom right")  # a label's side per dataset
SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def power_of_ten(exponent: int) -> str:
    """`10⁻²` for -2: the label of a log-axis tick."""
    return "1" if exponent == 0 else "10" + str(exponent).translate(SUPERSCRIPT)


def log_bins(values: list[float], per_decade: int = BINS_PER_DECADE) -> np.ndarray:
    """Bin edges in log10 space covering every value, aligned to whole decades' fractions.

    Plotly cannot bin logarithmically, so the histogram is drawn from counts of log10(Rg) in these edges.
    """
    logs = np.log10(np.asarray(values, dtype=float))
    low = math.floor(logs.min() * per_decade) / per_decade
    high = math.floor(logs.max() * per_decade) / per_decade + 1 / per_decade
    count = max(1, round((high - low) * per_decade))
    return np.linspace(low, low + count / per_decade, count + 1)


def ratio_histogram(datasets: dict[str, RatioStats], scale: float = 1.0) -> go.Figure:
    """Histogram of log10(Rg) per dataset (share of its examples per bin), overlaid, with vertical lines at the
    arithmetic mean (dashed) and the geometric mean (solid) of each dataset, labelled."""
    figure = go.Figure()
    # Names are file names and run labels a person chose: plotly renders some HTML in them (links, styles).
    with_data = {html.escape(name): stats for name, stats in datasets.items() if stats.count}
    all_ratios = [r for stats in with_data.values() for r in stats.ratios()]
    if not all_ratios:
        figure.update_layout(title=dict(text="No example has both prompt and completion tokens"))
        return figure
    edges = log_bins(all_ratios)
    centers, width = (edges[:-1] + edges[1:]) / 2, edges[1] - edges[0]
    for k, (name, stats) in enumerate(with_data.items()):
        colour = PALETTE[k % len(PALETTE)]
        counts, _ = np.histogram(np.log10(stats.ratios()), bins=edges)
        figure.add_bar(  # plain lists: plotly would encode numpy arrays as binary blobs in the spec
            x=centers.tolist(),
            y=(100 * counts / stats.count).tolist(),
            width=width,
            name=name,
            marker_color=colour,
            opacity=0.65,
            customdata=np.stack([10 ** edges[:-1], 10 ** edges[1:], counts], axis=1).tolist(),
            hovertemplate=f"{name}<br>Rg %{{customdata[0]:.3g}} to %{{customdata[1]:.3g}}<br>"
            "%{customdata[2]} examples (%{y:.1f}%)<extra></extra>",
        )
        for j, (kind, value, dash) in enumerate(
            (("arithmetic", stats.arithmetic_mean, "dash"), ("geometric", stats.geometric_mean, "solid"))
        ):
            # A line trace, not a shape, so the mean is named in the legend too; labels are staggered in
            # height because the two means of a narrow dataset nearly coincide.
            figure.add_scatter(
                x=[math.log10(value)] * 2,
                y=[0, 1],
                yaxis="y2",
                mode="lines",
                name=f"{name}: {kind} mean",
                line=dict(color=colour, dash=dash, width=2.5),
                showlegend=False,
                hovertemplate=f"{name}<br>{kind} mean Rg = {value:.4g}<extra></extra>",
            )
            figure.add_annotation(
                x=math.log10(value),
                y=1 - 0.075 * (2 * k + j),
                xref="x",
                yref="paper",
                showarrow=False,
                text=f"{kind} mean {value:.3g}",
                xanchor="left" if j else "right",
                xshift=4 if j else -4,
                font=dict(color=colour, size=round(12 * scale)),
                bgcolor="rgba(255,255,255,0.8)",
            )
    low, high = math.floor(edges[0]), math.ceil(edges[-1])
    ticks = list(range(low, high + 1))
    figure.update_layout(
        barmode="overlay",
        bargap=0,
        template="plotly_white",
        height=round(460 * scale),
        uirevision="ratio-histogram",
        title=dict(text="Generation ratio Rg = completion tokens / prompt tokens (log scale)"),
        xaxis=dict(
            title=dict(text="Rg"),
            tickvals=ticks,
            ticktext=[power_of_ten(t) for t in ticks],
            range=[edges[0] - 0.6, edges[-1] + 0.6],
        ),  # room for the mean labels
        yaxis=dict(title=dict(text="% of the dataset's examples")),
        yaxis2=dict(overlaying="y", range=[0, 1], visible=False),
        legend=dict(orientation="h", yanchor="bottom", y=1.02, x=0),
        margin=dict(t=round(90 * scale)),
    )
    return figure


def loss_share_curve(datasets: dict[str, RatioStats], prompt_weight: float) -> go.Figure:
    """The prompt tokens' share of the loss, w*P / (w*P + C), for w from 0.001 to 1 (log x), current w marked."""
    figure = go.Figure()
    weights = np.logspace(-3, 0, 121).tolist()
    for k, (name, stats) in enumerate((html.escape(n), st) for n, st in datasets.items()):
        if not stats.count:
            continue
        colour = PALETTE[k % len(PALETTE)]
        shares = [100 * prompt_loss_share(stats.prompt_tokens, stats.completion_tokens, w) for w in weights]
        figure.add_scatter(
            x=weights,
            y=shares,
            mode="lines",
            name=name,
            line=dict(color=colour, width=3),
            hovertemplate=f"{name}<br>w = %{{x:.3g}}: prompt share %{{y:.1f}}%<extra></extra>",
        )
        if prompt_weight > 0:
            share = 100 * stats.loss_share(prompt_weight)
            figure.add_scatter(
                x=[prompt_weight],
                y=[share],
                mode="markers+text",
                showlegend=False,
                marker=dict(color=colour, size=12, line=dict(color="white", width=2)),
                text=[f"{share:.0f}%"],
                textposition=MARKER_TEXT[k % len(MARKER_TEXT)],  # close shares of two sets keep apart
                hovertemplate=f"{name}<br>w = %{{x:.3g}}: %{{y:.1f}}%<extra></extra>",
            )
    if prompt_weight > 0:
        figure.add_vline(
            x=prompt_weight,
            line=dict(color="#555", dash="dot"),
            annotation=dict(text=f"w = {prompt_weight:g}"),
            annotation_position="top",
        )
    figure.update_layout(
        template="plotly_white",
        height=380,
        uirevision="loss-share",
        title=dict(text="Prompt tokens' share of the loss, w·P / (w·P + C)"),
        xaxis=dict(type="log", title=dict(text="prompt-loss-weight w"), range=[-3, 0]),
        yaxis=dict(title=dict(text="% of the loss from prompt tokens"), range=[0, 100]),
        legend=dict(orientation="h", yanchor="bottom", y=1.02, x=0),
    )
    return figure


def loss_curves(metrics: list[dict], run_id: str) -> go.Figure:
    """Training loss (with the run's weights) and the measured prompt and completion losses against step."""
    figure = go.Figure()
    steps = [m["step"] for m in metrics]
    series = (
        ("loss", "training loss (weighted)", "#000000", "solid"),
        ("prompt_loss", "prompt loss", PALETTE[1], "dot"),
        ("completion_loss", "completion loss", PALETTE[0], "solid"),
    )
    for key, name, colour, dash in series:
        values = [m.get(key) for m in metrics]
        if any(v is not None for v in values):
            figure.add_scatter(
                x=steps,
                y=values,
                mode="lines+markers" if len(steps) < 40 else "lines",
                name=name,
                line=dict(color=colour, dash=dash, width=2.5),
                connectgaps=True,
            )
    figure.update_layout(
        template="plotly_white",
        height=360,
        uirevision=f"loss-{run_id}",
        title=dict(text="Loss per optimizer step"),
        xaxis=dict(title=dict(text="step"), rangemode="tozero", **whole_ticks(max(steps, default=1))),
        yaxis=dict(title=dict(text="cross-entropy (nats)"), rangemode="tozero"),
        legend=dict(orientation="h", yanchor="bottom", y=1.02, x=0),
        margin=dict(t=70),
    )
    return figure


SERIES = (  # what each run logs, drawn in its own line style
    ("loss", "training loss (weighted)", "solid"),
    ("prompt_loss", "prompt loss", "dot"),
    ("completion_loss", "completion loss", "dash"),
)


def runs_curves(runs: dict[str, list[dict]], x: str = "step") -> go.Figure:
    """Several runs' loss curves on one chart, a colour per run and a line style per loss (weighted, prompt,
    completion), against optimizer step or epoch: seed 000's copied vs masked runs, side by side."""
    figure = go.Figure()
    last = 1.0
    for k, (label, metrics) in enumerate((html.escape(lb), m) for lb, m in runs.items()):
        colour = PALETTE[k % len(PALETTE)]
        xs = [m[x] for m in metrics]
        last = max([last, *xs])
        for key, name, dash in SERIES:
            values = [m.get(key) for m in metrics]
            if any(v is not None for v in values):
                figure.add_scatter(
                    x=xs,
                    y=values,
                    mode="lines",
                    name=f"{label} · {name}",
                    legendgroup=label,
                    line=dict(color=colour, dash=dash, width=2.5),
                    connectgaps=True,
                    hovertemplate=f"{label}<br>{name}: %{{y:.4f}} at {x} %{{x}}<extra></extra>",
                )
    figure.update_layout(
        template="plotly_white",
        height=440,
        uirevision="compare-runs",
        title=dict(text="Loss per optimizer step: solid weighted, dotted prompt, dashed completion"),
        xaxis=dict(title=dict(text=x), rangemode="tozero", **whole_ticks(last)),
        yaxis=dict(title=dict(text="cross-entropy (nats)"), rangemode="tozero"),
        legend=dict(orientation="h", yanchor="top", y=-0.18, x=0),
        margin=dict(t=60, b=40),
    )
    return figure


def whole_ticks(last: float, most: int = 10) -> dict:
    """x-axis settings that tick whole numbers only, 1, 2 or 5 x 10^k apart, at most `most` of them: a step
    axis never reads 0.5 or 1.5."""
    exponent = 0
    while True:
        for base in (1, 2, 5):
            dtick = base * 10**exponent
            if last / dtick <= most:
                return dict(tick0=0, dtick=dtick, tickformat="d")
        exponent += 1


def candidates_figure(position) -> go.Figure:
    """Seed 002's view of one position: the top candidates of the base and the fine-tuned model, the actual
    next token highlighted, and its loss as -log p."""
    figure = go.Figure()
    for k, (name, prediction) in enumerate((("base", position.base), ("fine-tuned", position.tuned))):
        if prediction is None:
            continue
        labels = [html.escape(visible(c.text)) for c in prediction.top]  # plotly renders some HTML in labels
        colours = ["#D55E00" if c.token_id == position.token_id else PALETTE[k * 2] for c in prediction.top]
        figure.add_bar(
            x=[c.prob for c in prediction.top][::-1],
            y=[f"{name}: {t}" for t in labels][::-1],
            orientation="h",
            marker_color=colours[::-1],
            name=name,
            hovertemplate="%{y}: p = %{x:.4f}<extra></extra>",
        )
    token = html.escape(f"`{visible(position.token)}`")
    lines = [
        f"{name}: p({token}) = {p.prob:.4f}, rank {p.rank}, loss = -log p = {p.loss:.3f}"
        for name, p in (("base", position.base), ("fine-tuned", position.tuned))
        if p is not None
    ]
    figure.update_layout(
        template="plotly_white",
        height=120 + 28 * sum(len(p.top) for p in (position.base, position.tuned) if p),
        title=dict(text=f"Position {position.position}: predicting {token}<br><sup>" + "<br>".join(lines) + "</sup>"),
        xaxis=dict(title=dict(text="probability"), range=[0, 1]),
        showlegend=False,
        margin=dict(t=110, l=10),
    )
    return figure


PART_COLOURS = {"weights": PALETTE[0], "gradients": PALETTE[1], "optimizer": PALETTE[3], "activations": PALETTE[2]}
PLAN_LABELS = {"full": "full", "lora": "LoRA", "qlora4": "QLoRA 4-bit", "qlora8": "QLoRA 8-bit"}


def plan_figure(plans: list, capacity: dict[str, int] | None = None) -> go.Figure:
    """One stacked bar per option (weights, gradients, AdamW's moments, activations, in GiB), each option's peak
    marked (gradients and activations peak apart, so the peak is below the stack), and the memory of the device
    it must fit on as a line."""
    figure = go.Figure()
    names = [PLAN_LABELS.get(p.method, p.method) for p in plans]
    for part, colour in PART_COLOURS.items():
        figure.add_bar(
            x=names,
            y=[p.bytes[part] / 2**30 for p in plans],
            name=part,
            marker_color=colour,
            hovertemplate=f"%{{x}}: {part} %{{y:.2f}} GiB<extra></extra>",
        )
    peaks = [p.bytes["total"] / 2**30 for p in plans]
    figure.add_scatter(
        x=names,
        y=peaks,
        mode="markers",
        name="peak of a step",
        marker=dict(color="#222", symbol="line-ew-open", size=40, line=dict(width=3)),
        hovertemplate="%{x}: peak %{y:.2f} GiB<extra></extra>",
    )
    for name, p, y in zip(names, plans, peaks):  # the label above the stack, clear of the bars
        stack = sum(p.bytes[part] for part in PART_COLOURS) / 2**30
        figure.add_annotation(x=name, y=stack, text=f"peak {y:.2f} GiB", showarrow=False, yshift=12)
    for device, size in (capacity or {}).items():
        figure.add_hline(
            y=size / 2**30,
            line=dict(color=PALETTE[4], dash="dash", width=2),
            annotation=dict(text=f"{device}: {size / 2**30:.1f} GiB"),
            annotation_position="top left",
        )
    figure.update_layout(
        template="plotly_white",
        barmode="stack",
        height=420,
        title=dict(text="Memory of one training step, by method"),
        yaxis=dict(title=dict(text="GiB")),
        legend=dict(orientation="h", yanchor="bottom", y=1.02, x=0),
    )
    return figure
