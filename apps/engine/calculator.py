"""Safe arithmetic: expressions are parsed with ``ast`` and evaluated node by node.

Only numbers, arithmetic operators, a few math functions and constants are
allowed; anything else (names, attributes, calls to other functions) is
rejected. Exponents and results are bounded so ``9**9**9`` cannot hang a worker.
"""

from __future__ import annotations

import ast
import math
import operator
import re
from collections.abc import Callable

from .errors import EngineError

MAX_EXPRESSION_LENGTH = 500
MAX_EXPONENT = 10_000
MAX_MAGNITUDE = 1e300


class CalculationError(EngineError):
    pass


_BINARY: dict[type, Callable[[float, float], float]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_UNARY: dict[type, Callable[[float], float]] = {ast.UAdd: operator.pos, ast.USub: operator.neg}
_FUNCTIONS: dict[str, Callable[..., float]] = {
    "sqrt": math.sqrt,
    "sin": math.sin,
    "cos": math.cos,
    "tan": math.tan,
    "log": math.log,
    "log10": math.log10,
    "exp": math.exp,
    "abs": abs,
    "round": round,
    "floor": math.floor,
    "ceil": math.ceil,
    "min": min,
    "max": max,
}
_CONSTANTS = {"pi": math.pi, "e": math.e, "tau": math.tau}


def _check(value: float) -> float:
    if isinstance(value, complex):
        raise CalculationError("The result is not a real number.")
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        raise CalculationError("The result is not a finite number.")
    if abs(value) > MAX_MAGNITUDE:
        raise CalculationError("The result is too large.")
    return value


def _eval(node: ast.AST) -> float:
    if isinstance(node, ast.Expression):
        return _eval(node.body)
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float) and not isinstance(node.value, bool):
        return node.value
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        left, right = _eval(node.left), _eval(node.right)
        if isinstance(node.op, ast.Pow) and abs(right) > MAX_EXPONENT:
            raise CalculationError("The exponent is too large.")
        try:
            return _check(_BINARY[type(node.op)](left, right))
        except ZeroDivisionError:
            raise CalculationError("Division by zero.") from None
        except OverflowError:
            raise CalculationError("The result is too large.") from None
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        return _UNARY[type(node.op)](_eval(node.operand))
    if isinstance(node, ast.Name) and node.id in _CONSTANTS:
        return _CONSTANTS[node.id]
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id in _FUNCTIONS
        and not node.keywords
    ):
        args = [_eval(a) for a in node.args]
        try:
            return _check(_FUNCTIONS[node.func.id](*args))
        except (ValueError, TypeError) as exc:
            raise CalculationError(f"{node.func.id}: {exc}") from None
    raise CalculationError(f"Not allowed in an expression: {ast.unparse(node) if hasattr(ast, 'unparse') else node}")


def _normalise(text: str) -> str:
    return text.replace("^", "**").replace("×", "*").replace("÷", "/").replace("−", "-").strip().rstrip("?=. ")


def evaluate(expression: str) -> float | int:
    """Evaluate one arithmetic expression; raise ``CalculationError`` if it is not one."""
    text = _normalise(expression)
    if not text:
        raise CalculationError("There is no expression to calculate.")
    if len(text) > MAX_EXPRESSION_LENGTH:
        raise CalculationError(f"The expression is longer than {MAX_EXPRESSION_LENGTH} characters.")
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError:
        raise CalculationError(f"Not an arithmetic expression: {expression.strip()!r}") from None
    return _eval(tree)


_CANDIDATE = re.compile(
    r"[\d.\s+\-*/%^()×÷−]*\d[\d.\s+\-*/%^()×÷−]*|(?:sqrt|sin|cos|tan|log10|log|exp|abs|round|floor|ceil|min|max)\([^()]*\)"
)


def evaluate_in_text(text: str) -> float | int:
    """Evaluate ``text`` if it is an expression, else the longest expression inside it.

    "What is (2 + 3) * 4?" gives 20.
    """
    try:
        return evaluate(text)
    except CalculationError as first_error:
        candidates = sorted((m.group(0) for m in _CANDIDATE.finditer(text)), key=len, reverse=True)
        for candidate in candidates:
            if not any(op in candidate for op in "+-*/%^×÷−(") and not candidate.strip().replace(".", "").isdigit():
                continue
            try:
                return evaluate(candidate)
            except CalculationError:
                continue
        raise first_error


def format_number(value: float | int) -> str:
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    if isinstance(value, float):
        return f"{value:.12g}"
    return str(value)
