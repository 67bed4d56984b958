"""IsoFLOP profiles: Chinchilla's approach 2 for the compute-optimal model size.

For each compute budget C, the final losses of models of different sizes N trained with that
budget trace a valley in log N. A parabola fitted to the bottom of the valley gives the
loss-minimising N_opt(C) (and D_opt(C)); a straight line through log N_opt against log C gives
the compute-optimal exponent a of N_opt = k·C^a.

Only the bottom of each valley is fitted (points whose loss is within ``window`` of the lowest,
and at least ``min_points`` points around it): far from the minimum the profile is not a
parabola in log N, and fitting all of it drags the vertex. Budgets whose lowest loss is at the
smallest or largest N sampled have no bracketed minimum and are left out of the power-law fit.

Source: Hoffmann et al. 2022, "Training Compute-Optimal Large Language Models", section 3.2;
Porian et al. 2024, "Resolving Discrepancies in Compute-Optimal Scaling of Language Models".
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from statistics import NormalDist

import numpy as np
import pandas as pd

from scalefit.artefacts import (
    SCHEMA_VERSION,
    data_origin,
    data_record,
    jsonable,
    read_artefact,
    write_artefact,
)
from scalefit.errors import FitError, InputError
from scalefit.summary import LawInfo, Summary, one_line, rows_from
from scalefit.version import __version__

__all__ = ["IsoFlopResult", "isoflop"]

_CANDIDATES = {
    "C": ("flops_total", "flops", "C", "compute"),
    "N": ("params", "n", "N", "model_size"),
    "loss": ("loss", "value", "final_loss"),
    "D": ("tokens_total", "tokens", "t", "D"),
}


@dataclass
class IsoFlopResult:
    """Per-budget minima and the power laws N_opt = k·C^a and D_opt = k_D·C^b fitted to them.

    ``minima`` has one row per budget: ``C``, ``N_opt``, ``D_opt``, ``loss`` (the parabola's
    minimum), ``n_points`` (runs at that budget), ``n_used`` (in the parabola), ``curvature``
    (second derivative of loss in ln N) and ``used`` (False where the minimum was not
    bracketed or the parabola opens downwards; such budgets are left out of the fits).
    Standard errors come from the least-squares fit of the line (``se_method="ols"``) or
    from a bootstrap over runs within each budget (``se_method="bootstrap"``).
    """

    minima: pd.DataFrame
    a: float
    k: float
    a_se: float
    log_k_se: float
    b: float
    k_D: float
    b_se: float
    se_method: str = "ols"
    settings: dict = field(default_factory=dict)
    bootstrap_a: np.ndarray | None = field(default=None, repr=False)

    #: the metric whose minima were fitted (``isoflop --metric``)
    metric: str = "loss"
    #: sha256 of the (C, N, loss[, D]) points used, and how they were given
    data_hash: str = ""
    data_origin: str = ""
    version: str = __version__

    #: what every result calls its law: here the two power laws of the minima
    law = "isoflop"

    @property
    def law_(self) -> LawInfo:
        """Name, formula and parameters of the two fitted power laws of the minima."""
        return LawInfo("isoflop", "N_opt = k·C^a, D_opt = k_D·C^b", ("a", "k", "b", "k_D"),
                       "Hoffmann et al. 2022 (approach 2); Porian et al. 2024 (akima)")

    @property
    def params_(self) -> dict[str, float]:
        """The fitted ``a``, ``k`` (N_opt = k·C^a) and ``b``, ``k_D`` (D_opt = k_D·C^b)."""
        return {"a": self.a, "k": self.k, "b": self.b, "k_D": self.k_D}

    @property
    def stderr_(self) -> dict[str, float]:
        """Standard errors of a, b and k (the last from that of ln k, by the delta method)."""
        return {"a": self.a_se, "k": self.k * self.log_k_se, "b": self.b_se}

    #: the level of ``ci_`` (normal intervals from the standard errors)
    level = 0.95

    @property
    def ci_(self) -> dict[str, tuple[float, float]] | None:
        """Normal intervals (``level``) of a, b and k (k's on the log scale); None without
        standard errors."""
        z = NormalDist().inv_cdf(0.5 + self.level / 2)
        out = {}
        for k, v, se in (("a", self.a, self.a_se), ("b", self.b, self.b_se)):
            if np.isfinite(se):
                out[k] = (v - z * se, v + z * se)
        if np.isfinite(self.log_k_se):
            out["k"] = (self.k * np.exp(-z * self.log_k_se), self.k * np.exp(z * self.log_k_se))
        return out or None

    def n_opt(self, C) -> np.ndarray:
        """Compute-optimal parameters at budget(s) C."""
        return self.k * np.asarray(C, dtype=float) ** self.a

    def d_opt(self, C) -> np.ndarray:
        """Compute-optimal tokens at budget(s) C."""
        return self.k_D * np.asarray(C, dtype=float) ** self.b

    def predict(self, C) -> pd.DataFrame:
        """Compute-optimal ``N_opt`` and ``D_opt`` at budget(s) ``C`` (one row each)."""
        c = np.atleast_1d(np.asarray(C, dtype=float))
        return pd.DataFrame({"C": c, "N_opt": self.n_opt(c), "D_opt": self.d_opt(c)})

    def to_dict(self) -> dict:
        """The JSON artefact as a dict (``kind`` "isoflop"): parameters, standard errors, the
        minima per budget, settings and data record."""
        d = {
            "schema": SCHEMA_VERSION, "kind": "isoflop", "law": self.law, "metric": self.metric,
            "params": self.params_, "stderr": self.stderr_,
            "a": self.a, "k": self.k, "a_se": self.a_se, "log_k_se": self.log_k_se,
            "b": self.b, "k_D": self.k_D, "b_se": self.b_se, "se_method": self.se_method,
            "minima": self.minima.to_dict(orient="records"), "settings": dict(self.settings),
            "data_hash": self.data_hash,
            "data": data_record(self.settings.get("data"), self.data_hash, self.data_origin),
            "version": self.version,
        }
        if self.bootstrap_a is not None:
            d["bootstrap_a"] = self.bootstrap_a
        return jsonable(d)

    def to_json(self, path: str | Path | None = None, *, indent: int = 2) -> str | None:
        """The JSON artefact as text, or written to ``path`` (then None, as for a fit)."""
        text = write_artefact(self.to_dict(), path, indent=indent)
        return None if path is not None else text

    @classmethod
    def from_dict(cls, d: Mapping) -> IsoFlopResult:
        """Rebuild a result from its artefact dict, validated first (it is untrusted);
        ``InputError`` for anything that is not an IsoFLOP artefact."""
        from scalefit.artefacts import check_kind, validate_isoflop_artefact

        check_kind(d, "isoflop", "an IsoFLOP result",
                   hint="save one with `scalefit isoflop ... --json FILE`")
        validate_isoflop_artefact(d)  # untrusted: types and ranges checked before use
        minima = pd.DataFrame(list(d["minima"]),
                              columns=["C", "N_opt", "D_opt", "loss", "n_points", "n_used",
                                       "curvature", "used"]).astype(
            {"C": float, "N_opt": float, "D_opt": float, "loss": float, "curvature": float})
        minima["used"] = [x is True for x in minima["used"]]
        boot = d.get("bootstrap_a")
        return cls(minima=minima, a=float(d["a"]), k=float(d["k"]),
                   a_se=_nan(d.get("a_se")), log_k_se=_nan(d.get("log_k_se")),
                   b=float(d["b"]), k_D=float(d["k_D"]), b_se=_nan(d.get("b_se")),
                   se_method=str(d.get("se_method", "ols")), settings=dict(d.get("settings") or {}),
                   bootstrap_a=None if boot is None else np.asarray(boot, float),
                   metric=str(d.get("metric") or "loss"), data_hash=str(d.get("data_hash") or ""),
                   data_origin=str((d.get("data") or {}).get("origin", "")),
                   version=str(d.get("version") or ""))

    @classmethod
    def from_json(cls, source: str | Path) -> IsoFlopResult:
        """Read an IsoFLOP artefact from a path or from JSON text."""
        return cls.from_dict(read_artefact(source))

    def summary(self) -> Summary:
        """Text (``str``), HTML and dict views (:class:`scalefit.summary.Summary`)."""
        used = int(self.minima["used"].sum())
        how = ("approach 2" if self.settings.get("method", "parabola") == "parabola"
               else "Akima interpolation")
        title = (f"IsoFLOP ({how}): N_opt = {self.k:.4g}·C^{self.a:.4f} "
                 f"(a ± {self.a_se:.4f}, {self.se_method}), D_opt = {self.k_D:.4g}·C^{self.b:.4f}"
                 f"; {used} of {len(self.minima)} budgets used")
        se_how = "bootstrap s.e." if self.se_method == "bootstrap" else "OLS s.e."
        rows = rows_from(self.params_, self.ci_, f"95%, {se_how}")
        left = [f"{c:.3g}" for c, u in zip(self.minima["C"], self.minima["used"], strict=True)
                if not u]
        notes = ([f"budget(s) {', '.join(left)} left out: no bracketed minimum"] if left else [])
        return Summary(kind="isoflop", law=self.law, formula=self.law_.formula, title=title,
                       facts=[f"metric {self.metric!r}: minima of {len(self.minima)} budgets"],
                       params=rows, notes=notes, record=self.to_dict())

    def __str__(self) -> str:
        return str(self.summary())

    def _repr_html_(self) -> str:
        return self.summary()._repr_html_()

    def __repr__(self) -> str:
        used = int(self.minima["used"].sum())
        return one_line("IsoFlopResult", self.law,
                        f"on {self.metric!r}: {used} of {len(self.minima)} budgets",
                        self.params_)


def _nan(x) -> float:
    return float("nan") if x is None else float(x)


def _points_hash(*arrays) -> str:
    """sha256 of the points an IsoFLOP fit used, like a data set's hash."""
    h = hashlib.sha256()
    for a in arrays:
        if a is not None:
            h.update(np.ascontiguousarray(a, dtype="<f8").tobytes())
    return "sha256:" + h.hexdigest()


def _column(data: pd.DataFrame, given: str | None, role: str, required: bool = True):
    if given is not None:
        if given not in data.columns:
            raise InputError(f"no column {given!r} for {role}", where=f"column {given}",
                             hint=f"columns are {list(data.columns)}")
        return given
    for c in _CANDIDATES[role]:
        if c in data.columns:
            return c
    if required:
        raise InputError(f"cannot find the {role} column among {list(data.columns)}",
                         where="isoflop data", hint=f"name it with {role}=<column>")
    return None


def _window(x, y, window, min_points):
    """Indices of the points at the bottom of one profile (x sorted)."""
    i = int(np.argmin(y))
    m = y <= y[i] * (1.0 + window)
    # keep the contiguous run around the minimum only
    lo, hi = i, i
    while lo > 0 and m[lo - 1]:
        lo -= 1
    while hi < len(y) - 1 and m[hi + 1]:
        hi += 1
    # widen to at least min_points distinct sizes, towards the nearer neighbour each time
    while len(np.unique(x[lo:hi + 1])) < min_points and (lo > 0 or hi < len(y) - 1):
        left = x[i] - x[lo - 1] if lo > 0 else np.inf
        right = x[hi + 1] - x[i] if hi < len(y) - 1 else np.inf
        if left <= right:
            lo -= 1
        else:
            hi += 1
    return i, np.arange(lo, hi + 1)


def _vertex(x, y):
    """Parabola through (x, y): vertex position, value and curvature (NaN if it opens down)."""
    if len(np.unique(x)) < 3:
        return np.nan, np.nan, np.nan
    xm = x.mean()
    p2, p1, p0 = np.linalg.lstsq(np.vander(x - xm, 3), y, rcond=None)[0]
    if not p2 > 0:
        return np.nan, np.nan, p2
    v = -p1 / (2 * p2)
    return v + xm, p0 - p1 * p1 / (4 * p2), 2 * p2


def _line(lx, ly):
    """OLS of ly on lx: slope, intercept and their standard errors."""
    A = np.stack([lx, np.ones_like(lx)], 1)
    coef, *_ = np.linalg.lstsq(A, ly, rcond=None)
    dof = len(lx) - 2
    if dof > 0:
        s2 = np.sum((ly - A @ coef) ** 2) / dof
        cov = s2 * np.linalg.inv(A.T @ A)
        se = np.sqrt(np.diag(cov))
    else:
        se = np.array([np.nan, np.nan])
    return coef[0], coef[1], se[0], se[1]


def lowest_per_size(x, y) -> tuple[np.ndarray, np.ndarray]:
    """The sorted distinct sizes ``x`` of one profile and the lowest loss at each (Porian et
    al. keep the best run per size)."""
    ux, inv = np.unique(x, return_inverse=True)
    uy = np.full(ux.size, np.inf)
    np.minimum.at(uy, inv, y)
    return ux, uy


def _akima_minimum(x, y, noise: float, draws: int, rng, per_interval: int = 25):
    """Porian et al.'s estimate of one profile's minimum: Akima interpolation of ln loss over
    ``x`` (ln N or ln D), its argmin on a grid of ``per_interval`` points per gap, as the median
    over ``draws`` copies of the losses with Gaussian noise ``noise`` added. Returns (x at the
    minimum, loss there), or NaNs when more than half of the draws put it at an end."""
    from scipy.interpolate import Akima1DInterpolator

    ux, uy = lowest_per_size(x, y)
    if ux.size < 3:
        return np.nan, np.nan
    grid = np.linspace(ux[0], ux[-1], (ux.size - 1) * per_interval)
    noisy = uy[:, None] + noise * rng.standard_normal((ux.size, draws))  # (sizes, draws)
    with np.errstate(invalid="ignore"):
        vals = Akima1DInterpolator(ux, np.log(noisy), axis=0)(grid)  # (grid, draws)
    vals = np.where(np.isfinite(vals), vals, np.inf)
    j = np.argmin(vals, axis=0)
    ok = (j > 0) & (j < grid.size - 1)
    if ok.sum() < draws / 2:
        return np.nan, np.nan
    return (float(np.median(grid[j[ok]])),
            float(np.median(np.exp(vals[j[ok], np.flatnonzero(ok)]))))


def isoflop(data: pd.DataFrame | None = None, *, C=None, N=None, loss=None, D=None,
            window: float = 0.1, min_points: int = 3, flops_per_token: float = 6.0,
            bootstrap: int = 0, seed: int | None = 0, method: str = "parabola",
            noise: float = 0.005, noise_draws: int = 1000) -> IsoFlopResult:
    """Chinchilla approach 2 on final losses of runs at a few compute budgets.

    Pass a table (``data``) with one row per run and name its columns with ``C=``, ``N=``,
    ``loss=`` and optionally ``D=`` (by default the store's ``flops_total``, ``params``,
    ``tokens_total`` or ``flops``/``n``/``t`` and ``loss``/``value`` are found), or pass the
    arrays themselves as ``C``, ``N``, ``loss`` (and ``D``) with ``data=None``.

    Runs whose budgets agree to 0.01% share a profile. Without D, D_opt = C/(flops_per_token·
    N_opt); with D, the tokens' own parabola in log D gives D_opt. ``window`` is the relative
    excess loss over a profile's minimum that still counts as its bottom. ``bootstrap > 0``
    resamples runs within each budget that many times to give the standard errors.

    ``method``: ``"parabola"`` (Chinchilla's approach 2, the bottom of each profile) or
    ``"akima"`` (Porian et al. 2024: the whole profile interpolated, the minimum the median
    over ``noise_draws`` redraws of the losses with Gaussian ``noise``, seeded by ``seed``).
    """
    if method not in ("parabola", "akima"):
        raise InputError(f"unknown isoflop method {method!r}", where="method",
                         hint="use parabola or akima")
    if data is not None:
        cols = {r: _column(data, v if isinstance(v, str) or v is None else None, r,
                           required=r != "D")
                for r, v in (("C", C), ("N", N), ("loss", loss), ("D", D))}
        arr = {r: (None if c is None else data[c].to_numpy(dtype=float)) for r, c in cols.items()}
    else:
        if C is None or N is None or loss is None:
            raise InputError("isoflop needs C, N and loss (arrays) or a table",
                             where="isoflop arguments")
        arr = {"C": np.asarray(C, float), "N": np.asarray(N, float),
               "loss": np.asarray(loss, float), "D": None if D is None else np.asarray(D, float)}
    ok = np.isfinite(arr["C"]) & np.isfinite(arr["N"]) & np.isfinite(arr["loss"])
    ok &= (arr["C"] > 0) & (arr["N"] > 0) & (arr["loss"] > 0)
    if arr["D"] is not None:
        ok &= np.isfinite(arr["D"]) & (arr["D"] > 0)
    lC, lN, y = np.log(arr["C"][ok]), np.log(arr["N"][ok]), arr["loss"][ok]
    lD = None if arr["D"] is None else np.log(arr["D"][ok])
    key = np.round(lC / np.log(10), 4)  # budgets equal to 0.01% share a profile
    budgets = np.unique(key)

    profiles = []
    for b in budgets:
        sel = np.flatnonzero(key == b)
        sel = sel[np.argsort(lN[sel], kind="stable")]
        profiles.append(sel)

    noise_rng = np.random.default_rng(seed)

    def minima_of(idx_sets):
        rows = []
        for sel in idx_sets:
            x, yy = lN[sel], y[sel]
            c = float(np.exp(lC[sel].mean()))
            row = {"C": c, "N_opt": np.nan, "D_opt": np.nan, "loss": np.nan,
                   "n_points": len(sel), "n_used": 0, "curvature": np.nan, "used": False}
            if method == "akima":
                v, lv = _akima_minimum(x, yy, noise, noise_draws, noise_rng)
                if np.isfinite(v):
                    row.update(N_opt=float(np.exp(v)), loss=lv, n_used=len(np.unique(x)))
                    if lD is None:
                        row["D_opt"] = c / (flops_per_token * row["N_opt"])
                    else:
                        vd = _akima_minimum(lD[sel], yy, noise, noise_draws, noise_rng)[0]
                        row["D_opt"] = float(np.exp(vd)) if np.isfinite(vd) else np.nan
                    row["used"] = bool(np.isfinite(row["D_opt"]))
            elif len(np.unique(x)) >= 3:
                i, idx = _window(x, yy, window, min_points)
                v, lv, curv = _vertex(x[idx], yy[idx])
                interior = 0 < i < len(x) - 1
                row.update(n_used=len(idx), curvature=float(curv))
                if np.isfinite(v):
                    row.update(N_opt=float(np.exp(v)), loss=float(lv))
                    if lD is None:
                        row["D_opt"] = c / (flops_per_token * row["N_opt"])
                    else:
                        vd = _vertex(lD[sel][idx], yy[idx])[0]
                        row["D_opt"] = float(np.exp(vd)) if np.isfinite(vd) else np.nan
                    row["used"] = bool(interior and np.isfinite(row["D_opt"]))
            rows.append(row)
        return pd.DataFrame(rows)

    minima = minima_of(profiles)
    use = minima["used"].to_numpy()
    if use.sum() < 2:
        raise FitError(f"only {int(use.sum())} budget(s) have a bracketed loss minimum; "
                       "need at least 2", where="isoflop",
                       hint="train sizes on both sides of the optimum at each budget")
    lc = np.log(minima["C"].to_numpy()[use])
    a, lk, a_se, lk_se = _line(lc, np.log(minima["N_opt"].to_numpy()[use]))
    b, lkd, b_se, _ = _line(lc, np.log(minima["D_opt"].to_numpy()[use]))
    se_method, boot_a = "ols", None
    if bootstrap and bootstrap > 0:
        rng = np.random.default_rng(seed)
        draws = []
        for _ in range(int(bootstrap)):
            res = [np.sort(rng.choice(p, size=len(p), replace=True)) for p in profiles]
            res = [r[np.argsort(lN[r], kind="stable")] for r in res]
            m = minima_of(res)
            u = m["used"].to_numpy()
            if u.sum() >= 2:
                lcb = np.log(m["C"].to_numpy()[u])
                draws.append((_line(lcb, np.log(m["N_opt"].to_numpy()[u]))[:2],
                              _line(lcb, np.log(m["D_opt"].to_numpy()[u]))[0]))
        if len(draws) >= 2:
            boot_a = np.array([d[0][0] for d in draws])
            a_se = float(np.std(boot_a, ddof=1))
            lk_se = float(np.std([d[0][1] for d in draws], ddof=1))
            b_se = float(np.std([d[1] for d in draws], ddof=1))
            se_method = "bootstrap"
    settings = {"method": method, "window": window, "min_points": min_points,
                "flops_per_token": flops_per_token, "bootstrap": int(bootstrap or 0),
                "seed": seed}
    if method == "akima":
        settings.update(noise=noise, noise_draws=noise_draws)
    return IsoFlopResult(minima=minima, a=float(a), k=float(np.exp(lk)), a_se=float(a_se),
                         log_k_se=float(lk_se), b=float(b), k_D=float(np.exp(lkd)),
                         b_se=float(b_se), se_method=se_method, settings=settings,
                         bootstrap_a=boot_a,
                         data_hash=_points_hash(lC, lN, y, lD),
                         data_origin=data_origin(data))
