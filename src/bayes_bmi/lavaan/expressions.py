"""Safe arithmetic expressions for defined parameters (``:=``) and constraints.

The right-hand side of a lavaan ``:=`` statement (for example ``c + a*b``) is an
arithmetic expression over parameter labels. This module parses such text into a
small immutable tree and evaluates it with plain Python operators, so the same
tree works on floats, NumPy arrays and PyTensor tensors. Python's ``eval`` is
never used.

Grammar (lowest to highest precedence)::

    expr    := product (('+' | '-') product)*        left-associative
    product := unary (('*' | '/') unary)*            left-associative
    unary   := ('+' | '-') unary | power
    power   := atom ('^' unary)?                     right-associative
    atom    := NUMBER | NAME | '(' expr ')'

``^`` binds tighter than unary minus, so ``-a^2`` is ``-(a^2)``, and ``2^-1`` is
``2^(-1)``, as in R.

Names follow the lavaan/R rule used by :mod:`bayes_bmi.lavaan.syntax`: letters, ASCII
digits, ``_`` and ``.``, not starting with a digit (and not ``.`` followed by a
digit, which is a number such as ``.5``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from bayes_bmi.errors import BayesBmiError

__all__ = [
    "BinOp",
    "Expr",
    "ExpressionError",
    "Name",
    "Number",
    "UnaryOp",
    "UnknownNameError",
    "evaluate",
    "expression_names",
    "format_expression",
    "parse_expression",
]

#: Deepest allowed nesting of parentheses, signs and powers in the text (bounds the
#: parser's recursion).
MAX_NESTING = 100
#: Deepest allowed expression tree (a chain ``a + b + ...`` of n terms has depth n);
#: bounds the recursion in :func:`evaluate`, :func:`format_expression` and the
#: dataclass ``==``/``repr`` of the nodes.
MAX_TREE_DEPTH = 200

_BINARY_OPS = frozenset("+-*/^")
_UNARY_OPS = frozenset("+-")
_DIGITS = frozenset("0123456789")


class ExpressionError(BayesBmiError):
    """Raised when an expression cannot be parsed or evaluated.

    Parameters
    ----------
    reason : str
        What went wrong, including what was expected.
    col : int or None
        1-based column within the expression text, or ``None`` when the error
        has no position (for example an unknown name found during evaluation).

    Attributes
    ----------
    reason : str
    col : int or None
    """

    def __init__(self, reason: str, col: int | None = None) -> None:
        super().__init__(reason, col)
        self.reason = reason
        self.col = col

    def __str__(self) -> str:
        if self.col is None:
            return self.reason
        return f"column {self.col}: {self.reason}"


class UnknownNameError(ExpressionError, KeyError):
    """Raised by :func:`evaluate` for a name missing from the environment.

    It is both an :class:`ExpressionError` (a ``ValueError``) and a ``KeyError``.

    Parameters
    ----------
    name : str
        The name that was not found.

    Attributes
    ----------
    name : str
    """

    def __init__(self, name: str) -> None:
        super().__init__(f"unknown name '{name}' in expression", None)
        self.args = (name,)
        self.name = name

    def __reduce__(self) -> tuple[type[UnknownNameError], tuple[str]]:
        return (type(self), (self.name,))


@dataclass(frozen=True)
class Number:
    """A numeric literal.

    Attributes
    ----------
    value : float
        The literal's value. The parser only produces non-negative values; a
        leading minus sign becomes a :class:`UnaryOp`.
    """

    value: float


@dataclass(frozen=True)
class Name:
    """A reference to a parameter label.

    Attributes
    ----------
    name : str
    """

    name: str


@dataclass(frozen=True)
class UnaryOp:
    """A unary sign.

    Attributes
    ----------
    op : str
        ``'-'`` or ``'+'``.
    operand : Expr
    """

    op: str
    operand: Expr


@dataclass(frozen=True)
class BinOp:
    """A binary arithmetic operation.

    Attributes
    ----------
    op : str
        One of ``'+'``, ``'-'``, ``'*'``, ``'/'``, ``'^'`` (power).
    left : Expr
    right : Expr
    """

    op: str
    left: Expr
    right: Expr


#: Any expression node. A plain union, so ``isinstance(x, Expr)`` works.
Expr = Number | Name | UnaryOp | BinOp


# --------------------------------------------------------------------------- scanning
# These two scanners are shared with :mod:`bayes_bmi.lavaan.syntax` so that both agree
# exactly on what a name and a number are.


def _is_name_char(ch: str) -> bool:
    return ch.isalpha() or ch in _DIGITS or ch in "_."


def _scan_name(text: str, i: int) -> int | None:
    """Return the end index of the name starting at ``text[i]``, or ``None``."""
    ch = text[i]
    if ch in _DIGITS:
        return None
    if ch == ".":
        if i + 1 < len(text) and text[i + 1] in _DIGITS:
            return None  # ".5" is a number
    elif not (ch.isalpha() or ch == "_"):
        return None
    j = i + 1
    while j < len(text) and _is_name_char(text[j]):
        j += 1
    return j


def _scan_digits(text: str, i: int) -> int:
    while i < len(text) and text[i] in _DIGITS:
        i += 1
    return i


def _scan_number(text: str, i: int) -> int | None:
    """Return the end index of the unsigned number at ``text[i]``, or ``None``.

    Accepts ``1``, ``1.``, ``1.5``, ``.5`` and an optional exponent ``e-3``.
    """
    n = len(text)
    if text[i] in _DIGITS:
        j = _scan_digits(text, i)
        if j < n and text[j] == ".":
            j = _scan_digits(text, j + 1)
    elif text[i] == "." and i + 1 < n and text[i + 1] in _DIGITS:
        j = _scan_digits(text, i + 1)
    else:
        return None
    if j < n and text[j] in "eE":
        k = j + 1
        if k < n and text[k] in "+-":
            k += 1
        if k < n and text[k] in _DIGITS:
            j = _scan_digits(text, k)
    return j


def _number_value(text: str, start: int) -> tuple[float, int, str | None]:
    """Scan a number at ``start``; return ``(value, end, problem)``.

    ``problem`` is ``None`` for a good number, otherwise a reason naming the bad
    text (a number glued to letters, digits or dots, or a number too large).
    """
    end = _scan_number(text, start)
    assert end is not None
    if end < len(text) and _is_name_char(text[end]):
        stop = end
        while stop < len(text) and _is_name_char(text[stop]):
            stop += 1
        bad = text[start:stop]
        return 0.0, stop, f"invalid number '{bad}'; expected a number such as 0.5, -1 or 1e-3"
    value = float(text[start:end])
    if not math.isfinite(value):
        return 0.0, end, f"number '{text[start:end]}' is too large; expected a finite number"
    return value, end, None


# --------------------------------------------------------------------------- tokens


@dataclass(frozen=True)
class _Token:
    kind: str  # "number", "name", "op", "(", ")", "end"
    text: str
    pos: int  # 0-based offset in the expression text
    value: float = 0.0


def _describe(tok: _Token) -> str:
    if tok.kind == "end":
        return "the end of the expression"
    if tok.kind == "name":
        return f"name '{tok.text}'"
    if tok.kind == "number":
        return f"number {tok.text}"
    return f"'{tok.text}'"


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    i = 0
    n = len(text)
    while i < n:
        ch = text[i]
        if ch.isspace():
            i += 1
            continue
        end = _scan_number(text, i)
        if end is not None:
            value, end, problem = _number_value(text, i)
            if problem is not None:
                raise ExpressionError(problem, i + 1)
            tokens.append(_Token("number", text[i:end], i, value))
            i = end
            continue
        end = _scan_name(text, i)
        if end is not None:
            tokens.append(_Token("name", text[i:end], i))
            i = end
            continue
        if ch in _BINARY_OPS:
            tokens.append(_Token("op", ch, i))
        elif ch in "()":
            tokens.append(_Token(ch, ch, i))
        else:
            raise ExpressionError(
                f"unexpected character {ch!r}; expected a number, a name, an operator "
                "(+ - * / ^) or a parenthesis",
                i + 1,
            )
        i += 1
    tokens.append(_Token("end", "", n))
    return tokens


# --------------------------------------------------------------------------- parser


class _Parser:
    """Recursive-descent parser over a token list (one instance per parse)."""

    def __init__(self, text: str) -> None:
        self.tokens = _tokenize(text)
        self.index = 0
        self.depth = 0

    @property
    def tok(self) -> _Token:
        return self.tokens[self.index]

    def _after(self) -> str:
        if self.index == 0:
            return "at the start of the expression"
        return f"after '{self.tokens[self.index - 1].text}'"

    def _error(self, reason: str, tok: _Token | None = None) -> ExpressionError:
        return ExpressionError(reason, (tok or self.tok).pos + 1)

    def _enter(self) -> None:
        self.depth += 1
        if self.depth > MAX_NESTING:
            raise self._error(f"expression is nested too deeply (more than {MAX_NESTING} levels)")

    def parse(self) -> Expr:
        expr = self._sum()
        tok = self.tok
        if tok.kind == ")":
            raise self._error(
                "unexpected ')' without a matching '('; expected an operator (+ - * / ^) "
                "or the end of the expression"
            )
        if tok.kind != "end":
            raise self._error(
                f"expected an operator (+ - * / ^) or the end of the expression {self._after()}, "
                f"found {_describe(tok)}"
            )
        return expr

    def _sum(self) -> Expr:
        left = self._product()
        while self.tok.kind == "op" and self.tok.text in "+-":
            op = self.tok.text
            self.index += 1
            left = BinOp(op, left, self._product())
        return left

    def _product(self) -> Expr:
        left = self._unary()
        while self.tok.kind == "op" and self.tok.text in "*/":
            op = self.tok.text
            self.index += 1
            left = BinOp(op, left, self._unary())
        return left

    def _unary(self) -> Expr:
        tok = self.tok
        if tok.kind == "op" and tok.text in _UNARY_OPS:
            self._enter()
            self.index += 1
            operand = self._unary()
            self.depth -= 1
            return UnaryOp(tok.text, operand)
        return self._power()

    def _power(self) -> Expr:
        base = self._atom()
        if self.tok.kind == "op" and self.tok.text == "^":
            self._enter()
            self.index += 1
            exponent = self._unary()
            self.depth -= 1
            return BinOp("^", base, exponent)
        return base

    def _atom(self) -> Expr:
        tok = self.tok
        if tok.kind == "number":
            self.index += 1
            return Number(tok.value)
        if tok.kind == "name":
            self.index += 1
            if self.tok.kind == "(":
                raise self._error(
                    f"function calls such as '{tok.text}(...)' are not supported; expected an "
                    f"operator (+ - * / ^) after '{tok.text}'"
                )
            return Name(tok.text)
        if tok.kind == "(":
            self._enter()
            self.index += 1
            inner = self._sum()
            if self.tok.kind != ")":
                raise self._error(
                    f"expected ')' to close the opening '(', found {_describe(self.tok)}"
                )
            self.index += 1
            self.depth -= 1
            return inner
        prev = self.tokens[self.index - 1] if self.index else None
        if tok.text == "*" and prev is not None and prev.text == "*" and prev.pos + 1 == tok.pos:
            raise self._error("'**' is not supported; expected '^' for powers", prev)
        raise self._error(
            f"expected a number, a name or '(' {self._after()}, found {_describe(tok)}"
        )


def _tree_depth(expr: Expr) -> int:
    """Depth of an expression tree, computed without recursion."""
    deepest = 0
    stack: list[tuple[Expr, int]] = [(expr, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        match node:
            case UnaryOp(operand=operand):
                stack.append((operand, depth + 1))
            case BinOp(left=left, right=right):
                stack.append((left, depth + 1))
                stack.append((right, depth + 1))
    return deepest


def parse_expression(text: str) -> Expr:
    """Parse an arithmetic expression.

    Parameters
    ----------
    text : str
        Expression text such as ``"c + a*b"`` or ``"-a^2 / (1 - b)"``.

    Returns
    -------
    Expr
        The expression tree.

    Raises
    ------
    ExpressionError
        With the 1-based column of the fault and what was expected there.

    Examples
    --------
    >>> parse_expression("2*b")
    BinOp(op='*', left=Number(value=2.0), right=Name(name='b'))
    """
    expr = _Parser(text).parse()
    if _tree_depth(expr) > MAX_TREE_DEPTH:
        raise ExpressionError(
            f"expression is too long: its tree is more than {MAX_TREE_DEPTH} levels deep", 1
        )
    return expr


# --------------------------------------------------------------------------- utilities


def expression_names(expr: Expr) -> frozenset[str]:
    """Return the set of names (parameter labels) used in an expression.

    Parameters
    ----------
    expr : Expr

    Returns
    -------
    frozenset of str
    """
    names: set[str] = set()
    stack: list[Expr] = [expr]
    while stack:
        match stack.pop():
            case Name(name=name):
                names.add(name)
            case UnaryOp(operand=operand):
                stack.append(operand)
            case BinOp(left=left, right=right):
                stack.extend((left, right))
    return frozenset(names)


def evaluate(expr: Expr, env: Mapping[str, Any]) -> Any:
    """Evaluate an expression with plain Python arithmetic.

    Only the operators ``+ - * / **`` (and unary minus) are applied to the values
    from ``env``, so the values may be floats, NumPy arrays or PyTensor tensors.
    ``^`` is evaluated as ``**``; a unary ``+`` returns its operand unchanged.

    Parameters
    ----------
    expr : Expr
        Tree from :func:`parse_expression`.
    env : Mapping[str, Any]
        Values for the names used in ``expr``.

    Returns
    -------
    Any
        The result; its type follows the operand types.

    Raises
    ------
    UnknownNameError
        If a name is missing from ``env`` (an :class:`ExpressionError` and a
        ``KeyError``).
    """
    match expr:
        case Number(value=value):
            return value
        case Name(name=name):
            try:
                return env[name]
            except KeyError:
                raise UnknownNameError(name) from None
        case UnaryOp(op=op, operand=operand):
            inner = evaluate(operand, env)
            if op == "-":
                return -inner
            if op == "+":
                return inner
            raise ValueError(f"unknown unary operator {op!r}")
        case BinOp(op=op, left=left, right=right):
            a = evaluate(left, env)
            b = evaluate(right, env)
            if op == "+":
                return a + b
            if op == "-":
                return a - b
            if op == "*":
                return a * b
            if op == "/":
                return a / b
            if op == "^":
                return a**b
            raise ValueError(f"unknown binary operator {op!r}")
    raise TypeError(f"not an expression node: {expr!r}")


# Binding strength used by format_expression: a child whose own strength is lower
# than what its position requires gets parentheses.
_SUM, _PRODUCT, _UNARY, _POWER, _ATOM = 1, 2, 3, 4, 5
_STRENGTH = MappingProxyType({"+": _SUM, "-": _SUM, "*": _PRODUCT, "/": _PRODUCT, "^": _POWER})


def _format_number(value: float) -> str:
    if not math.isfinite(value):
        raise ValueError(f"cannot format the non-finite number {value!r}")
    if value.is_integer() and abs(value) < 1e16:
        return str(int(value))
    return repr(value)


def _strength(expr: Expr) -> int:
    match expr:
        case Number(value=value):
            return _ATOM if value >= 0 else _UNARY
        case Name():
            return _ATOM
        case UnaryOp():
            return _UNARY
        case BinOp(op=op):
            return _STRENGTH[op]
    raise TypeError(f"not an expression node: {expr!r}")


def _format(expr: Expr, needed: int) -> str:
    match expr:
        case Number(value=value):
            text = _format_number(value)
        case Name(name=name):
            text = name
        case UnaryOp(op=op, operand=operand):
            if op not in _UNARY_OPS:
                raise ValueError(f"unknown unary operator {op!r}")
            # Parenthesise a nested sign: "-(-a)" rather than "--a".
            text = op + _format(operand, _POWER)
        case BinOp(op=op, left=left, right=right):
            if op in "+-":
                text = f"{_format(left, _SUM)} {op} {_format(right, _PRODUCT)}"
            elif op in "*/":
                text = f"{_format(left, _PRODUCT)}{op}{_format(right, _UNARY)}"
            elif op == "^":
                text = f"{_format(left, _ATOM)}^{_format(right, _UNARY)}"
            else:
                raise ValueError(f"unknown binary operator {op!r}")
        case _:
            raise TypeError(f"not an expression node: {expr!r}")
    return f"({text})" if _strength(expr) < needed else text


def format_expression(expr: Expr) -> str:
    """Format an expression tree as text with the fewest parentheses needed.

    ``parse_expression(format_expression(e)) == e`` for every tree produced by
    :func:`parse_expression`. (A hand-built ``Number`` with a negative value is
    written as ``-x`` and therefore reads back as ``UnaryOp('-', Number(x))``,
    which evaluates to the same value.)

    Parameters
    ----------
    expr : Expr

    Returns
    -------
    str
        For example ``"c + a*b"``.

    Raises
    ------
    ValueError
        For a non-finite ``Number`` or an unknown operator.
    """
    return _format(expr, _SUM)
