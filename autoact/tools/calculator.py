"""The Calculator tool: safe arithmetic on what the agent wrote inside ``Calculator[...]``.

The expression is parsed with :func:`ast.parse` (``mode="eval"``) and evaluated by walking the
tree; nothing is ever passed to ``eval``/``exec``. Only numbers, ``+ - * / // % **``, unary
``+``/``-``, parentheses and calls, by bare name, of a few math functions are allowed:
``sqrt log log10 log2 exp sin cos tan asin acos atan floor ceil abs round min max factorial``
and the constants ``pi`` and ``e``.

Common ways of writing arithmetic are tolerated: a trailing ``=`` or ``?``, ``^`` for power,
``×``/``÷``/``−`` for ``*``/``/``/``-``, and ``1,000`` as a thousands separator (only when the
expression calls no function, since ``max(1,2)`` uses commas between arguments).

Results that would be huge are refused before they are computed (integers of more than
:data:`MAX_DIGITS` digits, factorials of more than :data:`MAX_FACTORIAL`).

:func:`calculate` never raises for anything the model wrote. Failures are observations that
start with :data:`INVALID` (the expression uses something not allowed, or does not parse) or
:data:`MATH_ERROR` (division by zero, a domain error, a result too large).
"""

from __future__ import annotations

import ast
import math
import re
from typing import Callable

INVALID = "Invalid expression: "
MATH_ERROR = "Math error: "

MAX_LENGTH = 1000          # characters of expression
MAX_DIGITS = 4000          # digits of any integer result (Python prints at most 4300 by default)
MAX_EXPONENT = 10_000
MAX_FACTORIAL = 1000
MAX_ROUND_DIGITS = 100
_MAX_BITS = int(MAX_DIGITS * math.log2(10)) + 1

Number = int | float

FUNCTIONS: dict[str, Callable[..., Number]] = {
    "sqrt": math.sqrt, "log": math.log, "log10": math.log10, "log2": math.log2,
    "exp": math.exp, "sin": math.sin, "cos": math.cos, "tan": math.tan,
    "asin": math.asin, "acos": math.acos, "atan": math.atan,
    "floor": math.floor, "ceil": math.ceil, "abs": abs, "round": round,
    "min": min, "max": max, "factorial": math.factorial,
}
CONSTANTS: dict[str, float] = {"pi": math.pi, "e": math.e}

_REPLACEMENTS = {"^": "**", "×": "*", "÷": "/", "−": "-"}
_CALL = re.compile(r"[A-Za-z_]\w*\s*\(")
_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")

_NOT_ALLOWED = {   # node type -> what the observation calls it
    ast.Attribute: "attribute access is", ast.Subscript: "subscripts are",
    ast.Lambda: "lambdas are", ast.List: "lists are", ast.Tuple: "tuples are",
    ast.Dict: "dicts are", ast.Set: "sets are", ast.ListComp: "comprehensions are",
    ast.SetComp: "comprehensions are", ast.DictComp: "comprehensions are",
    ast.GeneratorExp: "comprehensions are", ast.Compare: "comparisons are",
    ast.BoolOp: "boolean operators are", ast.IfExp: "conditionals are",
    ast.JoinedStr: "strings are", ast.NamedExpr: "assignments are",
    ast.Starred: "starred arguments are",
}


class _Invalid(Exception):
    """The expression uses something that is not allowed."""


class _Refused(Exception):
    """The expression is allowed but its result would be too large to compute."""


def calculate(expression: str) -> str:
    """Evaluate ``expression`` and return the result, or an observation saying why not."""
    expr = _normalize(expression)
    if not expr:
        return INVALID + "empty expression"
    if len(expr) > MAX_LENGTH:
        return INVALID + f"expression too long (more than {MAX_LENGTH} characters)"
    try:
        tree = ast.parse(expr, mode="eval")
    except SyntaxError:
        shown = expr if len(expr) <= 60 else expr[:57] + "..."
        return INVALID + f"cannot parse {shown!r}"
    except (ValueError, RecursionError, MemoryError):  # null bytes, absurd nesting
        return INVALID + "cannot parse the expression"
    try:
        value = _eval(tree.body)
    except _Invalid as err:
        return INVALID + str(err)
    except _Refused as err:
        return MATH_ERROR + str(err)
    except ZeroDivisionError:
        return MATH_ERROR + "division by zero"
    except OverflowError:
        return MATH_ERROR + "result too large"
    except (ValueError, TypeError) as err:   # math domain errors, wrong argument counts
        return MATH_ERROR + str(err)
    except RecursionError:
        return INVALID + "expression too deeply nested"
    return _format(value)


def _normalize(expression: str) -> str:
    expr = expression.strip().strip("`").strip()
    expr = expr.rstrip("=? \t\n")
    for old, new in _REPLACEMENTS.items():
        expr = expr.replace(old, new)
    if not _CALL.search(expr):
        expr = _THOUSANDS.sub("", expr)
    return expr


def _eval(node: ast.AST) -> Number:
    if isinstance(node, ast.Constant):
        value = node.value
        if isinstance(value, (str, bytes)):
            raise _Invalid("strings are not allowed")
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _Invalid(f"the value {value!r} is not allowed")
        return value
    if isinstance(node, ast.BinOp):
        return _binop(node.op, _eval(node.left), _eval(node.right))
    if isinstance(node, ast.UnaryOp):
        operand = _eval(node.operand)
        if isinstance(node.op, ast.USub):
            return -operand
        if isinstance(node.op, ast.UAdd):
            return +operand
        raise _Invalid(f"operator {type(node.op).__name__} is not allowed")
    if isinstance(node, ast.Name):
        if node.id in CONSTANTS:
            return CONSTANTS[node.id]
        if node.id in FUNCTIONS:
            raise _Invalid(f"{node.id} must be called, e.g. {node.id}(...)")
        raise _Invalid(f"unknown name {node.id!r}")
    if isinstance(node, ast.Call):
        return _call(node)
    what = _NOT_ALLOWED.get(type(node), f"{type(node).__name__} is")
    raise _Invalid(f"{what} not allowed")


def _binop(op: ast.operator, left: Number, right: Number) -> Number:
    if isinstance(op, ast.Add):
        return _check(left + right)
    if isinstance(op, ast.Sub):
        return _check(left - right)
    if isinstance(op, ast.Mult):
        if isinstance(left, int) and isinstance(right, int) \
                and left.bit_length() + right.bit_length() > _MAX_BITS:
            raise _Refused(f"result too large (more than {MAX_DIGITS} digits)")
        return left * right
    if isinstance(op, ast.Div):
        return left / right
    if isinstance(op, ast.FloorDiv):
        return left // right
    if isinstance(op, ast.Mod):
        return left % right
    if isinstance(op, ast.Pow):
        return _power(left, right)
    raise _Invalid(f"operator {type(op).__name__} is not allowed")


def _power(base: Number, exponent: Number) -> Number:
    if isinstance(base, int) and isinstance(exponent, int) and exponent > 0 and abs(base) > 1:
        if exponent > MAX_EXPONENT:
            raise _Refused(f"exponent too large (more than {MAX_EXPONENT})")
        if exponent * (abs(base).bit_length() - 1) > _MAX_BITS:
            raise _Refused(f"result too large (more than {MAX_DIGITS} digits)")
    result = base ** exponent
    if isinstance(result, complex):
        raise _Refused("result is not a real number")
    return _check(result)


def _call(node: ast.Call) -> Number:
    if not isinstance(node.func, ast.Name):
        if isinstance(node.func, ast.Attribute):
            raise _Invalid("attribute access is not allowed")
        raise _Invalid("only math functions called by name are allowed")
    name = node.func.id
    if name not in FUNCTIONS:
        raise _Invalid(f"unknown function {name!r}")
    if node.keywords:
        raise _Invalid("keyword arguments are not allowed")
    args = [_eval(arg) for arg in node.args]
    if name == "factorial" and len(args) == 1:
        n = args[0]
        if isinstance(n, float) and n.is_integer():
            n = int(n)
        if isinstance(n, int) and n > MAX_FACTORIAL:
            raise _Refused(f"factorial argument too large (more than {MAX_FACTORIAL})")
        args = [n]
    if name == "round" and len(args) == 2:
        if not isinstance(args[1], int):
            raise _Invalid("round() digits must be an integer")
        if abs(args[1]) > MAX_ROUND_DIGITS:
            raise _Refused(f"round() digits too large (more than {MAX_ROUND_DIGITS})")
    return _check(FUNCTIONS[name](*args))


def _check(value: Number) -> Number:
    if isinstance(value, int) and value.bit_length() > _MAX_BITS:
        raise _Refused(f"result too large (more than {MAX_DIGITS} digits)")
    return value


def _format(value: Number) -> str:
    if isinstance(value, int):
        return str(value)
    if math.isnan(value):
        return MATH_ERROR + "result is not a number"
    if math.isinf(value):
        return MATH_ERROR + "result too large"
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return f"{value:.10g}"
