"""The ``Law`` base: a pure vectorised prediction plus a thin declaration.

A law declares its inputs (``N``, ``D``, ``C`` ...), its parameters (name, bounds, whether the
optimiser works on the log of the value, a grid of starting values in the optimiser's space) and
implements ``_predict`` and ``_jacobian`` in natural parameters, vectorised over a leading batch
of parameter vectors so that thousands of starts are evaluated at once.

Shapes: ``X`` maps each input name to a 1-D array of length n. ``theta`` is (P,) or (S, P).
``_predict`` returns (n,) or (S, n); ``_jacobian`` returns (n, P) or (S, n, P): the derivative of
the prediction with respect to each natural parameter.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar, overload

import numpy as np

from scalefit.errors import UsageError
from scalefit.lawspec import Param, law_spec


@dataclass(frozen=True)
class Input:
    """An input of a law: its canonical name, a description with units, and where it comes from.

    ``column`` names the runs-table column it is read from by default; inputs that have no
    column of their own (steps, experts, encoder parameters ...) name the key of the run's
    ``tags`` JSON in ``tag`` instead.
    """

    name: str
    doc: str
    column: str | None = None  # runs-table column it comes from by default
    positive: bool = True
    tag: str | None = None  # key in the runs table's ``tags`` JSON when there is no column


# canonical inputs shared by the final-loss laws
N = Input("N", "non-embedding parameters", "params")
D = Input("D", "training tokens", "tokens_total")
C = Input("C", "training compute (FLOPs)", "flops_total")
U = Input("U", "unique tokens in the data", "unique_tokens")
S = Input("S", "optimizer steps", tag="steps")
BATCH = Input("B", "batch size in tokens", "batch_size")


class Law:
    """Base class of every scaling law. Subclasses set the class attributes and the two kernels."""

    name: ClassVar[str] = ""
    #: formula as text, e.g. "L = E + A/N^alpha + B/D^beta"
    formula: ClassVar[str] = ""
    source: ClassVar[str] = ""
    inputs: ClassVar[tuple[Input, ...]] = ()
    params: ClassVar[tuple[Param, ...]] = ()
    #: what the law predicts: "loss" for most, else e.g. "lr", "accuracy"
    output: ClassVar[str] = "loss"
    #: "final" for laws of final loss against size; "curve" for laws of a loss curve
    kind: ClassVar[str] = "final"
    #: typical parameters and input ranges, for examples and synthetic tests:
    #: ``{"params": {name: value}, "inputs": {name: (low, high)}}`` (inputs drawn log-uniformly).
    #: A plain ``{name: value}`` mapping is read as the parameters alone.
    example: ClassVar[dict] = {}
    #: the registered law this one is when its irreducible loss ``E`` is 0 (None: no such law)
    without_e: ClassVar[str | None] = None

    # ------------------------------------------------------------ declaration helpers
    @property
    def param_names(self) -> list[str]:
        """Parameter names, in the order of ``theta``."""
        return [p.name for p in self.params]

    @property
    def input_names(self) -> list[str]:
        """Input names (``N``, ``D`` ...), in declaration order."""
        return [i.name for i in self.inputs]

    def param(self, name: str) -> Param:
        """The declared :class:`Param` called ``name``; ``UsageError`` if the law has none."""
        for p in self.params:
            if p.name == name:
                return p
        raise UsageError(f"law {self.name!r} has no parameter {name!r}; it has {self.param_names}")

    def start_grid(self, X: Mapping[str, np.ndarray] | None = None) -> np.ndarray:
        """Starting points in the optimiser's (internal) space, shape (S, P): the product grid.

        ``X`` (the data's inputs) is optional; laws whose good starts depend on the range of
        the data (break points of ``bnsl``) use it when given.
        """
        axes = [np.asarray(p.grid if p.grid else (self._default_start(p),), dtype=float)
                for p in self.params]
        mesh = np.meshgrid(*axes, indexing="ij")
        return np.stack([m.ravel() for m in mesh], axis=-1)

    @staticmethod
    def _default_start(p: Param) -> float:
        lo, hi = p.internal_bounds
        if np.isfinite(lo) and np.isfinite(hi):
            return 0.5 * (lo + hi)
        if np.isfinite(lo):
            return lo + 1.0
        if np.isfinite(hi):
            return hi - 1.0
        return 0.0

    def to_internal(self, theta: np.ndarray) -> np.ndarray:
        """Natural parameters (last axis) to the optimiser's space: the log of log-scaled ones."""
        theta = np.asarray(theta, dtype=float)
        return np.stack([p.to_internal(theta[..., i]) for i, p in enumerate(self.params)], -1)

    def to_natural(self, u: np.ndarray) -> np.ndarray:
        """The optimiser's parameters (last axis) back to natural values (inverse of
        :meth:`to_internal`)."""
        u = np.asarray(u, dtype=float)
        return np.stack([p.to_natural(u[..., i]) for i, p in enumerate(self.params)], -1)

    # ------------------------------------------------------------ public, validating
    def predict(self, X: Mapping[str, np.ndarray], theta: Sequence[float] | np.ndarray
                | Mapping[str, float]) -> np.ndarray:
        """Prediction at inputs ``X`` for parameters ``theta`` (array or name -> value)."""
        return self._predict(self.check_inputs(X), self._theta(theta))

    def jacobian(self, X: Mapping[str, np.ndarray], theta: Sequence[float] | np.ndarray
                 | Mapping[str, float]) -> np.ndarray:
        """d prediction / d natural parameter at inputs ``X``: shape (n, P), or (S, n, P) for a
        batch of parameter vectors (validated as in :meth:`predict`)."""
        return self._jacobian(self.check_inputs(X), self._theta(theta))

    def check_inputs(self, X: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The law's inputs from ``X`` as 1-D float arrays, length-1 inputs broadcast to the
        common length n; ``UsageError`` for a missing input or mismatched lengths."""
        out = {}
        for inp in self.inputs:
            if inp.name not in X:
                raise UsageError(
                    f"law {self.name!r} needs input {inp.name!r} ({inp.doc}); got {sorted(X)}")
            a = np.atleast_1d(np.asarray(X[inp.name], dtype=float))
            out[inp.name] = a
        # scalars broadcast against the longest input, in whichever order they come
        m = max((a.shape[0] for a in out.values()), default=1)
        for k, a in out.items():
            if a.shape[0] not in (1, m):
                raise UsageError(f"law {self.name!r}: input {k!r} has shape {a.shape}, "
                                 f"expected ({m},) like the other inputs")
        return {k: (np.broadcast_to(v, (m,)) if v.shape[0] == 1 else v) for k, v in out.items()}

    def _theta(self, theta) -> np.ndarray:
        if isinstance(theta, Mapping):
            missing = [p for p in self.param_names if p not in theta]
            if missing:
                raise UsageError(f"law {self.name!r}: parameter(s) {missing} missing")
            return np.array([float(theta[p]) for p in self.param_names])
        t = np.asarray(theta, dtype=float)
        if t.shape[-1] != len(self.params):
            raise UsageError(f"law {self.name!r} has {len(self.params)} parameters "
                             f"{self.param_names}; got an array of shape {t.shape}")
        return t

    # ------------------------------------------------------------ kernels (override)
    def _predict(self, X: dict[str, np.ndarray], theta: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _jacobian(self, X: dict[str, np.ndarray], theta: np.ndarray) -> np.ndarray:
        """Analytic Jacobian; the default is central finite differences (override when possible)."""
        theta = np.asarray(theta, dtype=float)
        cols = []
        for i in range(theta.shape[-1]):
            h = 1e-6 * np.maximum(np.abs(theta[..., i]), 1e-3)
            tp, tm = theta.copy(), theta.copy()
            tp[..., i] += h
            tm[..., i] -= h
            cols.append((self._predict(X, tp) - self._predict(X, tm)) / (2 * h)[..., None])
        return np.stack(cols, axis=-1)

    # ------------------------------------------------------------ optional structure
    def linear_basis(self, X: dict[str, np.ndarray], nonlinear: np.ndarray) -> np.ndarray | None:
        """For variable projection: basis functions (S, n, K) such that the prediction equals
        ``basis @ c`` for the linear parameters ``c`` (those with ``linear=True``, in order),
        given the nonlinear ones (S, P - K) in natural units. ``None`` if the law has no such form.
        """
        return None

    def derived(self, params: Mapping[str, float]) -> dict[str, float]:
        """Quantities derived from the parameters (e.g. compute-optimal exponents)."""
        return {}

    def optimal(self, params: Mapping[str, float], C: np.ndarray | float) -> dict[str, np.ndarray] | None:
        """Compute-optimal allocation at compute budget ``C``; ``None`` if the law defines none."""
        return None

    def example_params(self) -> dict[str, float]:
        """Typical parameter values (``example["params"]``), e.g. a published fit."""
        ex = self.example
        return dict(ex["params"]) if "params" in ex else dict(ex)

    def example_inputs(self, n: int, rng: np.random.Generator | int | None = None
                       ) -> dict[str, np.ndarray]:
        """``n`` input points drawn log-uniformly from ``example["inputs"]`` ranges.

        Laws whose inputs are coupled (unique tokens below tokens, ...) override this.
        """
        rng = np.random.default_rng(rng)
        ranges = self.example.get("inputs", {}) if "params" in self.example else {}
        missing = [i for i in self.input_names if i not in ranges]
        if missing:
            raise UsageError(f"law {self.name!r} declares no example range for {missing}")
        return {k: np.exp(rng.uniform(np.log(ranges[k][0]), np.log(ranges[k][1]), n))
                for k in self.input_names}

    def options(self) -> dict[str, Any]:
        """The options this law was built with (what :func:`get_law` takes after the name,
        ``kaplan:x=C``); empty for a law without options."""
        return {}

    @property
    def spec(self) -> str:
        """The name :func:`get_law` rebuilds this law from: ``"bnsl:breaks=2"``; options at their
        defaults are left out, so a plain law is its name."""
        return law_spec(self.name, self.options(), type(self).__init__)

    def describe(self) -> dict:
        """The law as a JSON-ready dict: name, spec, kind, formula, source, output and each
        input's and parameter's declaration."""
        return {
            "name": self.name,
            "spec": self.spec,
            "kind": self.kind,
            "formula": self.formula,
            "source": self.source,
            "inputs": [{"name": i.name, "doc": i.doc, "column": i.column, "tag": i.tag}
                       for i in self.inputs],
            "params": [{"name": p.name, "lower": p.lower, "upper": p.upper, "log": p.log,
                        "linear": p.linear, "doc": p.doc,
                        **({"prior": list(p.prior)} if p.prior is not None else {})}
                       for p in self.params],
            "output": self.output,
        }

    def __repr__(self) -> str:
        return f"<law {self.name}: {self.formula}>"


# ---------------------------------------------------------------------- registry
_REGISTRY: dict[str, type[Law] | object] = {}


@dataclass
class _Factory:
    """A registry entry that builds a law with options (e.g. ``kaplan`` on N, D or C)."""

    build: object
    doc: str = ""
    options: dict = field(default_factory=dict)


_L = TypeVar("_L", bound=Law)


@overload
def register(cls_or_name: type[_L], factory: None = None) -> type[_L]:
    """As a class decorator: the class, registered under its ``name``."""
@overload
def register(cls_or_name: str, factory: Callable[..., Any]) -> Callable[..., Any]:
    """With a name: ``factory``, registered under that name."""
def register(cls_or_name: type[Law] | str,
             factory: Callable[..., Any] | None = None) -> Any:
    """Register a Law subclass (as a decorator) or a name with a factory ``f(**options) -> Law``."""
    if isinstance(cls_or_name, str):
        _REGISTRY[cls_or_name] = _Factory(factory)
        return factory
    cls = cls_or_name
    if not cls.name:
        raise ValueError(f"{cls.__name__} has no name")
    _REGISTRY[cls.name] = cls
    return cls


def get_law(name: str | Law, **options: Any) -> Law | Any:
    """Look a law up by name (``"chinchilla"``, ``"kaplan:x=C"``, ``"bnsl:breaks=2"``).

    Loss-curve laws (``multi_power``, ``joint_multi_power:scaled=L0;A`` ...) are found too; they
    come back as ``scalefit.curves.CurveLaw`` objects, not :class:`Law` (hence ``Any``).
    """
    if isinstance(name, Law) or (not isinstance(name, str) and getattr(name, "kind", None)
                                 in KINDS and hasattr(name, "param_names")):
        return name  # a law object (a loss-curve law is not a Law: matched by its kind)
    base, _, opts = str(name).partition(":")
    base = base.strip()
    for item in filter(None, opts.split(",")):
        k, sep, v = item.partition("=")
        if not sep:
            raise UsageError(f"law option {item!r} in {name!r} must look like key=value")
        options[k.strip()] = _parse_value(v.strip())
    fit_only = sorted(set(options) & _FIT_OPTIONS)
    if fit_only:
        raise UsageError(f"{', '.join(fit_only)} is an option of the fit, not of the law "
                         f"{base!r}", where="get_law",
                         hint=f"scalefit.fit(data, {base!r}, {fit_only[0]}=...) or "
                              f"`scalefit fit --{fit_only[0]}`")
    if base == "joint":  # ``joint:base=lr_annealing`` is ``joint_lr_annealing``
        base = f"joint_{options.pop('base', 'multi_power')}"
    if base in _OTHER_KINDS:  # a loss-curve law: its own class hierarchy, built by its module
        return _OTHER_KINDS[base][1](**options)
    if base not in _REGISTRY:
        import difflib

        known = sorted(law_kinds())
        # a typo or a capital letter is the usual cause: name the law that was meant
        close = difflib.get_close_matches(base.lower(), known, n=1, cutoff=0.75)
        meant = f"did you mean {close[0]!r}? " if close else ""
        raise UsageError(f"unknown law {base!r}; {meant}known laws: {', '.join(known)}",
                         hint="see `scalefit laws`")
    entry = _REGISTRY[base]
    try:
        if isinstance(entry, _Factory):
            return entry.build(**options)
        return entry(**options)
    except TypeError as exc:
        raise UsageError(f"law {base!r} does not take options {options}: {exc}") from None


#: keywords of the fit (``scalefit.fit``), refused by :func:`get_law` with a pointer there
_FIT_OPTIONS = frozenset({"fix", "bounds", "expr", "tie", "params"})


def list_laws() -> list[str]:
    """Names of the :class:`Law` registry (final-loss, loss-to-loss and task laws); see
    :func:`law_kinds` for every law, loss-curve laws included."""
    return sorted(_REGISTRY)


#: laws of other kinds, outside the :class:`Law` hierarchy: name -> (kind, factory(**options))
_OTHER_KINDS: dict[str, tuple[str, Callable[..., Any]]] = {}

#: the kinds of law, in the order ``scalefit laws`` lists them
KINDS = ("final", "curve", "joint_curve", "loss_to_loss", "task")


def register_kind(name: str, kind: str, factory: Callable[..., Any]) -> None:
    """Register a law that is not a :class:`Law` (a loss-curve law) under ``name``."""
    if kind not in KINDS:
        raise ValueError(f"kind {kind!r} is not one of {KINDS}")
    _OTHER_KINDS[name] = (kind, factory)


def law_kinds() -> dict[str, str]:
    """Every known law name and its kind (one of :data:`KINDS`)."""
    out = {name: getattr(entry, "kind", "final") for name, entry in _REGISTRY.items()}
    out.update({name: kind for name, (kind, _) in _OTHER_KINDS.items()})
    return dict(sorted(out.items()))


@overload
def available(kind: None = None) -> dict[str, list[str]]:
    """Without ``kind``: every law name, grouped by kind."""
@overload
def available(kind: str) -> list[str]:
    """With ``kind``: the law names of that kind."""
def available(kind: str | None = None) -> dict[str, list[str]] | list[str]:
    """Every registered law name grouped by kind, kinds in :data:`KINDS` order
    (``{"final": ["bnsl", "chinchilla", ...], "curve": [...], ...}``); with ``kind``, the names
    of that kind (a list). Each name builds with :func:`get_law`."""
    if kind is not None and kind not in KINDS:
        raise UsageError(f"unknown kind of law {kind!r}", where="kind",
                         hint=f"one of {', '.join(KINDS)}")
    names = law_kinds()
    grouped = {k: [n for n, nk in names.items() if nk == k] for k in KINDS}
    return grouped if kind is None else grouped[kind]


def law_kind(name: str) -> str:
    """The kind of the law ``name`` (options after ``:`` allowed): one of :data:`KINDS`;
    ``"final"`` for unknown names (the fit then reports them)."""
    base = str(name).partition(":")[0].strip()
    if base == "joint":
        return "joint_curve"
    if base in _OTHER_KINDS:
        return _OTHER_KINDS[base][0]
    return getattr(_REGISTRY.get(base), "kind", "final")


def _parse_value(v: str):
    for conv in (int, float):
        try:
            return conv(v)
        except ValueError:
            pass
    return v


#: the size inputs a single-variable law may be written in (``power:x=C``, ``kaplan:x=D`` ...)
SIZE_INPUTS: dict[str, Input] = {"N": N, "D": D, "C": C, "S": S}


def size_input(x: str, law: str) -> Input:
    """The input named by a law's ``x=`` option, with a clear error for an unknown name."""
    if x not in SIZE_INPUTS:
        raise UsageError(f"law {law!r}: x={x!r} is not one of {sorted(SIZE_INPUTS)}",
                         where="law option x", hint=f"e.g. {law}:x=N")
    return SIZE_INPUTS[x]
