"""Data-constrained scaling (Muennighoff et al. 2023): repeated tokens and excess parameters."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from scalefit.laws.base import D, Law, N, Param, U, register


@register
class DataConstrained(Law):
    """L(N, D, U) = E + A / N'^alpha + B / D'^beta, with effective data and parameters

        D' = U_D + U_D·R_D*·(1 − exp(−R_D/R_D*)),   U_D = U,  R_D = max(D/U − 1, 0)
        N' = U_N + U_N·R_N*·(1 − exp(−R_N/R_N*)),   U_N = min(N, D_to_N(U)),  R_N = max(N/U_N − 1, 0)

    where D_to_N(U) = G·(U·G)^(beta/alpha) is the Chinchilla compute-optimal parameter count for
    U tokens, G = (alpha·A/(beta·B))^(1/(alpha+beta)). Repeating data for R_D epochs is worth
    less than fresh data and its value decays with scale R_D* (``rd_star``); parameters beyond
    those that U unique tokens justify decay likewise with R_N* (``rn_star``).

    By default G comes from the law's own A, B, alpha, beta, as in the authors' code, so A and B
    also act through U_N and the law has no linear parameters. With the option
    ``data_constrained:G=0.226`` (G taken from a separate Chinchilla fit), U_N no longer depends
    on A and B, and E, A, B enter linearly (variable projection applies).

    Inputs: N (``params``), D (``tokens_total``), U (``unique_tokens``; U <= D).
    Without data constraints (U >= D) the compute-optimal allocation is Chinchilla's.

    Source: Muennighoff et al. 2023, "Scaling Data-Constrained Language Models", eq. (5)-(7);
    formula and fitted values as in github.com/huggingface/datablations (README, parametric fit):
    log A = 6.255414, log B = 7.3049974, log E = 0.6254804, alpha = beta = 0.3526596,
    R_D* = 15.387756, R_N* = 5.309743.
    """

    name = "data_constrained"
    formula = ("L = E + A/N'^alpha + B/D'^beta; D' = U(1 + R_D*(1 - exp(-R_D/R_D*))), "
               "N' = U_N(1 + R_N*(1 - exp(-R_N/R_N*)))")
    source = "Muennighoff et al. 2023 (data-constrained scaling)"
    inputs = (N, D, U)
    example = {
        "params": {"E": float(np.exp(0.6254804)), "A": float(np.exp(6.255414)),
                   "B": float(np.exp(7.3049974)), "alpha": 0.3526596, "beta": 0.3526596,
                   "rd_star": 15.387756, "rn_star": 5.309743},
        "inputs": {"N": (1e8, 1e10), "D": (1e9, 5e11)},
    }

    def __init__(self, G: float | None = None):
        self.G = None if G is None else float(G)
        lin = self.G is not None
        self.params = (
            Param("E", 0.0, np.inf, log=True, grid=(0.0, 0.5), linear=lin, doc="irreducible loss"),
            Param("A", 0.0, np.inf, log=True, grid=(4.0, 8.0), linear=lin,
                  doc="parameter-term amplitude"),
            Param("B", 0.0, np.inf, log=True, grid=(4.0, 8.0), linear=lin,
                  doc="data-term amplitude"),
            Param("alpha", 1e-3, 5.0, grid=(0.3, 0.5), doc="parameter exponent"),
            Param("beta", 1e-3, 5.0, grid=(0.3, 0.5), doc="data exponent"),
            Param("rd_star", 0.0, np.inf, log=True, grid=(1.5, 3.5),
                  doc="R_D*: decay scale of the value of repeated epochs"),
            Param("rn_star", 0.0, np.inf, log=True, grid=(1.0, 3.0),
                  doc="R_N*: decay scale of the value of excess parameters"),
        )

    def options(self) -> dict:
        """``G`` (None: computed from the law's own A, B, alpha, beta)."""
        return {"G": self.G}

    def example_inputs(self, n, rng=None):
        """N and D log-uniform; U = D/epochs with epochs log-uniform in [1, 60]."""
        rng = np.random.default_rng(rng)
        X = {k: np.exp(rng.uniform(np.log(lo), np.log(hi), n))
             for k, (lo, hi) in self.example["inputs"].items()}
        X["U"] = X["D"] / np.exp(rng.uniform(0.0, np.log(60.0), n))
        return X

    # ------------------------------------------------------------------ kernels
    def _log_G(self, A, B, alpha, beta):
        if self.G is not None:
            return np.full(np.shape(A), np.log(self.G))
        return (np.log(alpha * A) - np.log(beta * B)) / (alpha + beta)

    def _parts(self, X, theta):
        E, A, B, al, be, rd, rn = (t[..., None] for t in
                                   np.moveaxis(np.asarray(theta, float), -1, 0))
        Nx, Dx, Ux = X["N"], X["D"], X["U"]
        lU = np.log(Ux)
        RD = np.maximum(Dx / Ux - 1.0, 0.0)
        ed = np.exp(-RD / rd)
        Deff = Ux * (1.0 + rd * (1.0 - ed))
        lG = self._log_G(A, B, al, be)
        lUNc = (1.0 + be / al) * lG + (be / al) * lU  # log D_to_N(U)
        capped = np.log(Nx) > lUNc
        UN = np.where(capped, np.exp(lUNc), Nx)
        RN = np.maximum(Nx / UN - 1.0, 0.0)
        en = np.exp(-RN / rn)
        Neff = UN * (1.0 + rn * (1.0 - en))
        return dict(E=E, A=A, B=B, al=al, be=be, rd=rd, rn=rn, lU=lU, RD=RD, ed=ed, Deff=Deff,
                    lG=lG, capped=capped, UN=UN, RN=RN, en=en, Neff=Neff, N=Nx, U=Ux)

    def _predict(self, X, theta):
        p = self._parts(X, theta)
        return p["E"] + p["A"] * p["Neff"] ** -p["al"] + p["B"] * p["Deff"] ** -p["be"]

    def _jacobian(self, X, theta):
        p = self._parts(X, theta)
        E, A, B, al, be, rd, rn = (p[k] for k in ("E", "A", "B", "al", "be", "rd", "rn"))
        Neff, Deff, UN, en, ed = p["Neff"], p["Deff"], p["UN"], p["en"], p["ed"]
        nt = Neff ** -al
        dt = Deff ** -be
        dL_dNeff = -al * A * nt / Neff
        dL_dDeff = -be * B * dt / Deff
        # through U_N = D_to_N(U) where it caps N: dL/dlog U_N
        dNeff_dUN = 1.0 + rn * (1.0 - en) - en * p["N"] / UN
        KN = np.where(p["capped"], dL_dNeff * dNeff_dUN * UN, 0.0)
        lG, lU = p["lG"], p["lU"]
        if self.G is None:
            dlG_dal = (1.0 / al - lG) / (al + be)
            dlG_dbe = (-1.0 / be - lG) / (al + be)
            dlUN_dA, dlUN_dB = 1.0 / (al * A), -1.0 / (al * B)
        else:
            dlG_dal = dlG_dbe = dlUN_dA = dlUN_dB = 0.0
        dlUN_dal = -(be / al ** 2) * (lG + lU) + (1.0 + be / al) * dlG_dal
        dlUN_dbe = (lG + lU) / al + (1.0 + be / al) * dlG_dbe
        cols = [
            np.ones_like(nt),
            nt + KN * dlUN_dA,
            dt + KN * dlUN_dB,
            -A * nt * np.log(Neff) + KN * dlUN_dal,
            -B * dt * np.log(Deff) + KN * dlUN_dbe,
            dL_dDeff * p["U"] * ((1.0 - ed) - p["RD"] / rd * ed),
            dL_dNeff * UN * ((1.0 - en) - p["RN"] / rn * en),
        ]
        shape = np.broadcast_shapes(*(c.shape for c in cols))
        return np.stack([np.broadcast_to(c, shape) for c in cols], -1)

    def linear_basis(self, X, nonlinear):
        """Basis for ``E``, ``A``, ``B`` (ones, ``N'^-alpha``, ``D'^-beta``) when ``G`` is fixed;
        None otherwise, since U_N then depends on A and B."""
        if self.G is None:
            return None
        al, be, rd, rn = np.moveaxis(np.asarray(nonlinear, float), -1, 0)
        ones = np.ones_like(al)
        theta = np.stack([ones, ones, ones, al, be, rd, rn], -1)
        p = self._parts(X, theta)
        nt = p["Neff"] ** -p["al"]
        dt = p["Deff"] ** -p["be"]
        return np.stack([np.ones_like(nt), nt, dt], -1)

    # ------------------------------------------------------------------ structure
    def derived(self, params: Mapping[str, float]) -> dict[str, float]:
        """a, b and G as for Chinchilla's law; NaN where undefined (exponents summing to 0)."""
        A, B, alpha, beta = (np.asarray(params[k], float) for k in ("A", "B", "alpha", "beta"))
        with np.errstate(all="ignore"):
            s = alpha + beta
            ok = np.isfinite(s) & (s > 0)
            s1 = np.where(ok, s, 1.0)
            if self.G is not None:
                G = np.asarray(self.G, float)
            else:
                ratio = alpha * A / (beta * B)
                gok = ok & np.isfinite(ratio) & (ratio > 0)
                G = np.where(gok, np.where(gok, ratio, 1.0) ** (1.0 / s1), np.nan)
            out = {"a": np.where(ok, beta / s1, np.nan), "b": np.where(ok, alpha / s1, np.nan),
                   "G": G}
        return {k: float(v) if np.ndim(v) == 0 else v for k, v in out.items()}

    def unique_params(self, params: Mapping[str, float], U) -> np.ndarray:
        """D_to_N(U): the parameters that U unique tokens justify (U_N's cap)."""
        d = self.derived(params)
        r = params["beta"] / params["alpha"]
        return d["G"] * (np.asarray(U, float) * d["G"]) ** r

    def optimal(self, params: Mapping[str, float], C):
        """Chinchilla's allocation under C = 6·N·D, valid while unique data is not the limit."""
        A, B, alpha, beta = (params[k] for k in ("A", "B", "alpha", "beta"))
        s = alpha + beta
        G = (alpha * A / (beta * B)) ** (1.0 / s)
        C = np.asarray(C, dtype=float)
        n_opt = G * (C / 6.0) ** (beta / s)
        d_opt = (C / 6.0) ** (alpha / s) / G
        theta = np.array([params[p] for p in self.param_names])
        loss = self._predict({"N": np.atleast_1d(n_opt), "D": np.atleast_1d(d_opt),
                              "U": np.atleast_1d(d_opt)}, theta)
        return {"N": n_opt, "D": d_opt, "loss": loss.reshape(np.shape(C))}
