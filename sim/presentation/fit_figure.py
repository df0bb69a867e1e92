"""The figure of ``rotasim fleet import``: observed ages of the last check-ins against the fitted model.

Its colours come from the one palette of ``sim.presentation.figures`` (a colour per presence family).
"""

from __future__ import annotations

import numpy as np

from sim.calibration.fit import PresenceFit
from sim.presentation import figures


def plot_fit(fit: PresenceFit, title: str) -> bytes:
    """PNG: the observed ages of the offline clients against each family's fitted counts, per bin (top) and
    as the number of clients not seen for longer than x days (bottom, where the tail is easier to read)."""
    fig = figures.figure(9, 8.5)
    top, bottom = fig.subplots(2, 1, sharex=True)
    e = fit.model.edges / 24.0
    obs = fit.counts.bins.astype(float)
    tau, purge = fit.settings.absence_days, fit.settings.purge_days
    top.bar(e[:-1], obs, width=np.diff(e), align="edge", color=figures.OBSERVED_COLOUR, alpha=0.55, label="observed")
    observed_tail = np.append(obs[::-1].cumsum()[::-1], 0.0)
    bottom.step(e, observed_tail, where="post", color=figures.OKABE_ITO[6], lw=1.6, label="observed")
    for fam, ff in sorted(fit.families.items(), key=lambda kv: kv[0] != fit.best):
        best = fam == fit.best
        style = {"color": figures.FAMILY_COLOURS[fam], "lw": 2.0 if best else 1.2, "ls": "-" if best else "--"}
        label = f"{fam}{' (chosen)' if best else ''}, AIC {ff.aic:.1f}"
        top.step(e, np.append(ff.fitted, ff.fitted[-1]), where="post", label=label, **style)
        bottom.plot(e, np.append(ff.fitted[::-1].cumsum()[::-1], 0.0), label=label, **style)
    for ax in (top, bottom):
        band = f"up to {tau:g} days: one class in the fit"
        ax.axvspan(0, tau, color=figures.HIGHLIGHT_COLOUR, alpha=0.18, lw=0, label=band)
        ax.set_yscale("log")
        ax.set_xlim(0, purge)
        ax.grid(True, which="major", alpha=0.3)
    top.set_ylim(bottom=0.5)
    bottom.set_ylim(bottom=0.8)
    top.set_ylabel(f"offline clients per {fit.settings.bin_hours:g}-hour bin")
    bottom.set_ylabel("offline clients not seen for longer than x")
    bottom.set_xlabel(f"x: age of the last check-in at the snapshot (days); older than {purge:g} days: not listed")
    c = fit.counts
    inv = fit.invisible_clients
    top.set_title(
        f"{title}\n{c.n} clients fitted: {c.online} online, {c.absent} absent; about {inv:.0f} more purged by the "
        f"console after {purge:g} days but alive (invisible)",
        fontsize=10,
    )
    top.legend(fontsize=8, loc="upper right")
    bottom.legend(fontsize=8, loc="lower left")
    return figures.to_png(fig)
