"""Parameter expressions (``expr={"beta": "alpha"}``), checked and evaluated without ``eval``.

An expression is parsed with :mod:`ast` and accepted only if every node is on a short list:
parameter names, numbers, ``+ - * / **``, unary minus/plus, parentheses, and calls by bare name
of a few numpy functions (:data:`FUNCTIONS`). Attributes, subscripts, comprehensions, lambdas,
f-strings, conditionals, comparisons, keyword or starred arguments and any other name are
refused, as are expressions longer than :data:`MAX_LENGTH` characters, nested deeper than
:data:`MAX_DEPTH`, constant exponents above :data:`MAX_EXPONENT` in magnitude and powers inside
an exponent (``9**9**9``). The accepted tree is compiled once into nested closures over numpy
ufuncs, so evaluation is vectorised over arrays of parameter values and no user text ever
reaches the interpreter.

>>> f = compile_expression("1.1 * alpha", ["alpha", "beta"])
>>> float(f({"alpha": 0.3}))
0.33
"""

from __future__ import annotations

import ast
import math
from collections.abc import Callable, Mapping, Sequence

import numpy as np

from scalefit.errors import UsageError

__all__ = ["FUNCTIONS", "MAX_DEPTH", "MAX_EXPONENT", "MAX_LENGTH", "compile_expression",
           "check_expression"]

#: functions an expression may call by bare name, with their number of arguments
FUNCTIONS: dict[str, tuple[Callable, int]] = {
    "exp": (np.exp, 1), "log": (np.log, 1), "log10": (np.log10, 1), "log2": (np.log2, 1),
    "sqrt": (np.sqrt, 1), "abs": (np.abs, 1), "minimum": (np.minimum, 2),
    "maximum": (np.maximum, 2),
}
MAX_LENGTH = 500
MAX_DEPTH = 32
MAX_EXPONENT = 100.0

_BINOPS: dict[type, Callable] = {ast.Add: np.add, ast.Sub: np.subtract, ast.Mult: np.multiply,
                                 ast.Div: np.true_divide, ast.Pow: np.power}
_UNARY: dict[type, Callable] = {ast.USub: np.negative, ast.UAdd: np.positive}
_ALLOWED = ("parameter names, numbers, + - * / **, unary minus, parentheses and the functions "
            + ", ".join(FUNCTIONS))

Evaluator = Callable[[Mapping[str, np.ndarray]], np.ndarray]


def compile_expression(expr: str, names: Sequence[str], *, param: str | None = None
                       ) -> Evaluator:
    """A vectorised function of the parameters named in ``expr``, or a :class:`UsageError`.

    ``names``: the parameters the expression may use. ``param``: the parameter the expression
    defines, named in errors. The returned function takes a mapping name -> array (or float)
    and returns ``expr`` evaluated elementwise with numpy (floating-point warnings silenced:
    an overflow gives inf, which the fit treats as an infeasible point).
    """
    label = f"expression for {param!r}" if param else "expression"

    def refuse(why: str) -> UsageError:
        shown = expr if len(expr) <= 80 else expr[:77] + "..."
        return UsageError(f"{label} {shown!r} is not allowed: {why}", where="expr",
                          hint=f"an expression may use only {_ALLOWED}")

    if not isinstance(expr, str):
        raise UsageError(f"{label} must be a string, got {type(expr).__name__}", where="expr")
    if not expr.strip():
        raise refuse("it is empty")
    if len(expr) > MAX_LENGTH:
        raise refuse(f"it is {len(expr)} characters long (at most {MAX_LENGTH})")
    try:
        tree = ast.parse(expr.strip(), mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        raise refuse(f"it does not parse ({type(exc).__name__})") from None
    allowed = set(names)
    if param is not None:
        allowed.discard(param)
    fn = _build(tree.body, allowed, refuse, 1, in_exponent=False)

    def evaluate(values: Mapping[str, np.ndarray]) -> np.ndarray:
        with np.errstate(all="ignore"):
            return np.asarray(fn(values), dtype=float)

    evaluate.expr = expr  # type: ignore[attr-defined]
    evaluate.names = sorted({n.id for n in ast.walk(tree) if isinstance(n, ast.Name)  # type: ignore[attr-defined]
                             and n.id not in FUNCTIONS})
    return evaluate


def check_expression(expr: str, names: Sequence[str], *, param: str | None = None) -> None:
    """Raise a :class:`UsageError` unless ``expr`` is an allowed expression of ``names``."""
    compile_expression(expr, names, param=param)


def _const(node: ast.AST) -> float | None:
    """The value of a number, or of a signed number; ``None`` for anything else."""
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        v = _const(node.operand)
        return None if v is None else (-v if isinstance(node.op, ast.USub) else v)
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        return float(node.value)
    return None


def _build(node: ast.AST, names: set[str], refuse, depth: int, *, in_exponent: bool):
    if depth > MAX_DEPTH:
        raise refuse(f"it is nested more than {MAX_DEPTH} levels deep")
    if isinstance(node, ast.Constant):
        # bool is an int subclass; complex, str, bytes, None and Ellipsis are refused
        if type(node.value) not in (int, float):
            raise refuse(f"the constant {node.value!r} is not a real number")
        try:
            c = float(node.value)
        except OverflowError:
            raise refuse("a number is too large") from None
        if not math.isfinite(c):
            raise refuse("a number is not finite")
        return lambda env: c
    if isinstance(node, ast.Name):
        if not isinstance(node.ctx, ast.Load) or node.id not in names:
            known = ", ".join(sorted(names)) or "none"
            raise refuse(f"{node.id!r} is not a parameter of the law (parameters it may use: "
                         f"{known})")
        key = node.id
        return lambda env: env[key]
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        op = _UNARY[type(node.op)]
        inner = _build(node.operand, names, refuse, depth + 1, in_exponent=in_exponent)
        return lambda env: op(inner(env))
    if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
        op = _BINOPS[type(node.op)]
        if isinstance(node.op, ast.Pow):
            if in_exponent:
                raise refuse("a power inside an exponent (such as 9**9**9)")
            c = _const(node.right)
            if c is not None and abs(c) > MAX_EXPONENT:
                raise refuse(f"the exponent {c:g} is larger than {MAX_EXPONENT:g} in magnitude")
        left = _build(node.left, names, refuse, depth + 1, in_exponent=in_exponent)
        right = _build(node.right, names, refuse, depth + 1,
                       in_exponent=in_exponent or isinstance(node.op, ast.Pow))
        if isinstance(node.op, ast.Pow):
            # float powers: an integer power of Python ints could run for ever
            return lambda env: np.power(np.asarray(left(env), float), right(env))
        return lambda env: op(left(env), right(env))
    if isinstance(node, ast.Call):
        if not isinstance(node.func, ast.Name) or node.func.id not in FUNCTIONS:
            raise refuse("only the functions " + ", ".join(FUNCTIONS)
                         + " may be called, by bare name")
        if node.keywords or any(isinstance(a, ast.Starred) for a in node.args):
            raise refuse("keyword and starred arguments are not allowed")
        func, arity = FUNCTIONS[node.func.id]
        if len(node.args) != arity:
            raise refuse(f"{node.func.id} takes {arity} argument(s), got {len(node.args)}")
        args = [_build(a, names, refuse, depth + 1, in_exponent=in_exponent) for a in node.args]
        if arity == 1:
            a0 = args[0]
            return lambda env: func(a0(env))
        a0, a1 = args
        return lambda env: func(a0(env), a1(env))
    what = {ast.Attribute: "attribute access", ast.Subscript: "subscripts",
            ast.Lambda: "lambdas", ast.IfExp: "conditional expressions",
            ast.Compare: "comparisons", ast.BoolOp: "and/or", ast.JoinedStr: "f-strings",
            ast.ListComp: "comprehensions", ast.SetComp: "comprehensions",
            ast.DictComp: "comprehensions", ast.GeneratorExp: "comprehensions",
            ast.NamedExpr: "assignments", ast.Starred: "starred arguments"}
    for kind, text in what.items():
        if isinstance(node, kind):
            raise refuse(f"it uses {text}")
    raise refuse(f"it uses {type(node).__name__}")
