"""Tests for bayes_bmi.lavaan.expressions: the safe arithmetic parser and evaluator."""

from __future__ import annotations

import cmath
import dataclasses
import pickle

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bayes_bmi.lavaan.expressions import (
    MAX_NESTING,
    MAX_TREE_DEPTH,
    BinOp,
    Expr,
    ExpressionError,
    Name,
    Number,
    UnaryOp,
    UnknownNameError,
    evaluate,
    expression_names,
    format_expression,
    parse_expression,
)

a, b, c, d = Name("a"), Name("b"), Name("c"), Name("d")


def num(value: float) -> Number:
    return Number(float(value))


# --------------------------------------------------------------------------- parsing


@pytest.mark.parametrize(
    ("text", "tree"),
    [
        ("a", a),
        ("2", num(2)),
        ("0.5", num(0.5)),
        (".5", num(0.5)),
        ("1.", num(1)),
        ("1e-3", num(0.001)),
        ("2.5E+2", num(250)),
        ("x.1", Name("x.1")),
        ("_x", Name("_x")),
        (".x", Name(".x")),
        ("a.b_c2", Name("a.b_c2")),
        ("a*b", BinOp("*", a, b)),
        ("c + a*b", BinOp("+", c, BinOp("*", a, b))),
        ("(c + a)*b", BinOp("*", BinOp("+", c, a), b)),
        ("a - b - c", BinOp("-", BinOp("-", a, b), c)),
        ("a - (b - c)", BinOp("-", a, BinOp("-", b, c))),
        ("a/b/c", BinOp("/", BinOp("/", a, b), c)),
        ("a/b*c", BinOp("*", BinOp("/", a, b), c)),
        ("a^b^c", BinOp("^", a, BinOp("^", b, c))),
        ("(a^b)^c", BinOp("^", BinOp("^", a, b), c)),
        ("-a^2", UnaryOp("-", BinOp("^", a, num(2)))),
        ("(-a)^2", BinOp("^", UnaryOp("-", a), num(2))),
        ("2^-1", BinOp("^", num(2), UnaryOp("-", num(1)))),
        ("a^-b^c", BinOp("^", a, UnaryOp("-", BinOp("^", b, c)))),
        ("-a*b", BinOp("*", UnaryOp("-", a), b)),
        ("a*-b", BinOp("*", a, UnaryOp("-", b))),
        ("a - -b", BinOp("-", a, UnaryOp("-", b))),
        ("+a", UnaryOp("+", a)),
        ("--a", UnaryOp("-", UnaryOp("-", a))),
        ("a + b*c^d", BinOp("+", a, BinOp("*", b, BinOp("^", c, d)))),
        ("  ((a))  ", a),
        ("a\n+\tb", BinOp("+", a, b)),
    ],
)
def test_parse_expression(text: str, tree: Expr) -> None:
    assert parse_expression(text) == tree


@pytest.mark.parametrize(
    ("text", "col", "reason"),
    [
        ("", 1, "expected a number, a name or '(' at the start of the expression"),
        ("   ", 4, "found the end of the expression"),
        ("a +", 4, "expected a number, a name or '(' after '+', found the end of the expression"),
        ("a * * b", 5, "expected a number, a name or '(' after '*', found '*'"),
        ("(a + b", 7, "expected ')' to close the opening '('"),
        ("a + b)", 6, "unexpected ')' without a matching '('"),
        ("()", 2, "expected a number, a name or '(' after '(', found ')'"),
        ("a b", 3, "expected an operator (+ - * / ^) or the end of the expression after 'a'"),
        ("2 3", 3, "found number 3"),
        ("exp(a)", 4, "function calls such as 'exp(...)' are not supported"),
        ("a**2", 2, "'**' is not supported; expected '^' for powers"),
        ("a $ b", 3, "unexpected character '$'"),
        ("a.b$c", 4, "unexpected character '$'"),
        ("a[1]", 2, "unexpected character '['"),
        ("a, b", 2, "unexpected character ','"),
        ("a == b", 3, "unexpected character '='"),
        ("2x", 1, "invalid number '2x'"),
        ("0.7.1", 1, "invalid number '0.7.1'"),
        ("1e", 1, "invalid number '1e'"),
        ("1e999", 1, "number '1e999' is too large"),
        ('"a"', 1, "unexpected character '\"'"),
    ],
)
def test_parse_errors(text: str, col: int, reason: str) -> None:
    with pytest.raises(ExpressionError) as info:
        parse_expression(text)
    assert info.value.col == col
    assert reason in info.value.reason
    assert " expected " in f" {info.value.reason} "
    assert str(info.value) == f"column {col}: {info.value.reason}"


def test_nesting_limit() -> None:
    deep = "(" * MAX_NESTING + "a" + ")" * MAX_NESTING
    assert parse_expression(deep) == a
    with pytest.raises(ExpressionError, match="nested too deeply"):
        parse_expression("(" + deep + ")")
    with pytest.raises(ExpressionError, match="nested too deeply"):
        parse_expression("-" * (MAX_NESTING + 1) + "a")


def test_tree_depth_limit() -> None:
    long_sum = " + ".join(["a"] * MAX_TREE_DEPTH)
    tree = parse_expression(long_sum)
    assert evaluate(tree, {"a": 1.0}) == MAX_TREE_DEPTH
    assert parse_expression(format_expression(tree)) == tree
    with pytest.raises(ExpressionError, match="too long"):
        parse_expression(long_sum + " + a")


def test_error_is_value_error_and_pickles() -> None:
    with pytest.raises(ValueError) as info:
        parse_expression("a +")
    err = pickle.loads(pickle.dumps(info.value))
    assert isinstance(err, ExpressionError)
    assert (err.col, err.reason) == (info.value.col, info.value.reason)


def test_nodes_are_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        a.name = "z"  # type: ignore[misc]
    assert isinstance(BinOp("+", a, b), Expr)  # Expr is a plain union


# --------------------------------------------------------------------------- names & evaluation


def test_expression_names() -> None:
    assert expression_names(parse_expression("c + a*b - a/2")) == frozenset({"a", "b", "c"})
    assert expression_names(parse_expression("2^3")) == frozenset()


def test_evaluate_floats() -> None:
    env = {"a": 0.5, "b": 2.0, "c": 0.25}
    assert evaluate(parse_expression("c + a*b"), env) == 0.25 + 0.5 * 2.0
    assert evaluate(parse_expression("-b^2"), env) == -4.0
    assert evaluate(parse_expression("(-b)^2"), env) == 4.0
    assert evaluate(parse_expression("b^-1"), env) == 0.5
    assert evaluate(parse_expression("2^3^2"), env) == 2.0**9
    assert evaluate(parse_expression("a/b/c"), env) == 0.5 / 2.0 / 0.25
    assert evaluate(parse_expression("+a"), env) == 0.5
    assert evaluate(parse_expression("1e-3"), {}) == 0.001


def test_evaluate_numpy_arrays() -> None:
    rng = np.random.default_rng(1)
    a_draws, b_draws, c_draws = rng.normal(size=(3, 50))
    env = {"a": a_draws, "b": b_draws, "c": c_draws}
    result = evaluate(parse_expression("c + a*b - a^2/2"), env)
    assert isinstance(result, np.ndarray)
    np.testing.assert_array_equal(result, c_draws + a_draws * b_draws - a_draws**2 / 2)


def test_evaluate_only_uses_operators() -> None:
    """Values only need + - * / ** and unary minus (as PyTensor tensors provide)."""

    @dataclasses.dataclass(frozen=True)
    class Symbolic:
        text: str

        def _bin(self, op: str, other: object, reverse: bool = False) -> Symbolic:
            other_text = other.text if isinstance(other, Symbolic) else repr(other)
            left, right = (other_text, self.text) if reverse else (self.text, other_text)
            return Symbolic(f"({left} {op} {right})")

        def __add__(self, o: object) -> Symbolic:
            return self._bin("+", o)

        def __radd__(self, o: object) -> Symbolic:
            return self._bin("+", o, True)

        def __mul__(self, o: object) -> Symbolic:
            return self._bin("*", o)

        def __rmul__(self, o: object) -> Symbolic:
            return self._bin("*", o, True)

        def __pow__(self, o: object) -> Symbolic:
            return self._bin("**", o)

        def __neg__(self) -> Symbolic:
            return Symbolic(f"(-{self.text})")

    env = {"a": Symbolic("a"), "b": Symbolic("b"), "c": Symbolic("c")}
    result = evaluate(parse_expression("c + 2*a*b^2 + -a"), env)
    assert result == Symbolic("((c + ((2.0 * a) * (b ** 2.0))) + (-a))")


def test_unknown_name() -> None:
    with pytest.raises(UnknownNameError) as info:
        evaluate(parse_expression("a*zz"), {"a": 1.0})
    err = info.value
    assert isinstance(err, KeyError)
    assert isinstance(err, ExpressionError)
    assert err.name == "zz"
    assert "zz" in str(err)
    assert err.col is None
    again = pickle.loads(pickle.dumps(err))
    assert isinstance(again, UnknownNameError)
    assert again.name == "zz"


# --------------------------------------------------------------------------- formatting


@pytest.mark.parametrize(
    ("tree", "text"),
    [
        (BinOp("+", c, BinOp("*", a, b)), "c + a*b"),
        (BinOp("*", BinOp("+", c, a), b), "(c + a)*b"),
        (BinOp("-", a, BinOp("-", b, c)), "a - (b - c)"),
        (BinOp("-", BinOp("-", a, b), c), "a - b - c"),
        (BinOp("/", a, BinOp("*", b, c)), "a/(b*c)"),
        (BinOp("^", a, BinOp("^", b, c)), "a^b^c"),
        (BinOp("^", BinOp("^", a, b), c), "(a^b)^c"),
        (UnaryOp("-", BinOp("^", a, num(2))), "-a^2"),
        (BinOp("^", UnaryOp("-", a), num(2)), "(-a)^2"),
        (BinOp("^", num(2), UnaryOp("-", num(1))), "2^-1"),
        (UnaryOp("-", UnaryOp("-", a)), "-(-a)"),
        (UnaryOp("-", BinOp("+", a, b)), "-(a + b)"),
        (BinOp("*", a, UnaryOp("-", b)), "a*-b"),
        (num(0.001), "0.001"),
        (num(1e-7), "1e-07"),
        (num(3), "3"),
        (num(1e20), "1e+20"),
        (num(-2), "-2"),
        (BinOp("^", num(-2), num(2)), "(-2)^2"),
    ],
)
def test_format_expression(tree: Expr, text: str) -> None:
    assert format_expression(tree) == text


def test_format_rejects_non_finite() -> None:
    with pytest.raises(ValueError, match="non-finite"):
        format_expression(Number(float("inf")))


# --------------------------------------------------------------------------- properties

NAMES = ("a", "b", "c", "x.1", "beta_2", ".lab")
names_st = st.sampled_from(NAMES).map(Name)
numbers_st = st.floats(min_value=0, max_value=1e6, allow_nan=False, allow_infinity=False).map(
    Number
)


def _extend(children: st.SearchStrategy[Expr]) -> st.SearchStrategy[Expr]:
    return st.one_of(
        st.builds(UnaryOp, st.sampled_from("+-"), children),
        st.builds(BinOp, st.sampled_from("+-*/^"), children, children),
    )


exprs_st = st.recursive(st.one_of(names_st, numbers_st), _extend, max_leaves=12)


def _python_source(expr: Expr) -> str:
    """Fully parenthesised Python text for ``expr`` (names mapped to v0, v1, ...)."""
    match expr:
        case Number(value=value):
            return repr(value)
        case Name(name=name):
            return f"v{NAMES.index(name)}"
        case UnaryOp(op=op, operand=operand):
            return f"({op}{_python_source(operand)})"
        case BinOp(op=op, left=left, right=right):
            py_op = "**" if op == "^" else op
            return f"({_python_source(left)} {py_op} {_python_source(right)})"
    raise AssertionError(expr)


@st.composite
def messy_text(draw: st.DrawFn, expr: Expr) -> str:
    """Text for ``expr`` with redundant parentheses and random whitespace."""
    space = draw(st.sampled_from(["", " ", "  ", "\t"]))
    match expr:
        case Number() | Name():
            inner = format_expression(expr)
        case UnaryOp(op=op, operand=operand):
            inner = f"{op}({draw(messy_text(operand))})"
        case BinOp(op=op, left=left, right=right):
            inner = f"({draw(messy_text(left))}){space}{op}{space}({draw(messy_text(right))})"
    if draw(st.booleans()):
        inner = f"({space}{inner}{space})"
    return inner


@settings(max_examples=300, deadline=None)
@given(exprs_st)
def test_format_parse_round_trip(expr: Expr) -> None:
    text = format_expression(expr)
    assert parse_expression(text) == expr
    assert format_expression(parse_expression(text)) == text


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_parse_format_parse_round_trip(data: st.DataObject) -> None:
    expr = data.draw(exprs_st)
    text = data.draw(messy_text(expr))
    parsed = parse_expression(text)
    assert parsed == expr
    assert parse_expression(format_expression(parsed)) == parsed
    assert expression_names(parsed) == expression_names(expr)


def _same(x: object, y: object) -> bool:
    if x == y:
        return True
    return (
        isinstance(x, (float, complex))
        and isinstance(y, (float, complex))
        and (cmath.isnan(x) and cmath.isnan(y))
    )


@settings(max_examples=300, deadline=None)
@given(
    exprs_st,
    st.lists(
        st.floats(min_value=-50, max_value=50, allow_nan=False).filter(lambda v: abs(v) > 1e-3),
        min_size=len(NAMES),
        max_size=len(NAMES),
    ),
)
def test_evaluate_matches_python_arithmetic(expr: Expr, values: list[float]) -> None:
    env = dict(zip(NAMES, values, strict=True))
    py_env = {f"v{i}": v for i, v in enumerate(values)}
    code = compile(_python_source(expr), "<expr>", "eval")
    try:
        expected = eval(code, {"__builtins__": {}}, py_env)  # test oracle only
    except ArithmeticError as exc:  # division by ~0 or overflow: same error either way
        with pytest.raises(type(exc)):
            evaluate(expr, env)
        return
    assert _same(evaluate(expr, env), expected)
