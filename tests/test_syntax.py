"""Tests for bayes_bmi.lavaan.syntax: the lavaan model-syntax parser."""

from __future__ import annotations

import dataclasses
import pickle

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bayes_bmi.lavaan.expressions import parse_expression
from bayes_bmi.lavaan.syntax import (
    ModelSyntaxError,
    Modifiers,
    Statement,
    Term,
    parse_model,
)

FREE = Modifiers()


def term(name: str, line: int, col: int, **mods: object) -> Term:
    return Term(name, Modifiers(**mods), line, col)  # type: ignore[arg-type]


def stmt(
    lhs: str, op: str, terms: list[Term], line: int, col: int, expr: str | None = None
) -> Statement:
    return Statement(lhs, op, tuple(terms), expr, line, col)


def only(text: str) -> Statement:
    """Parse a model that must contain exactly one statement."""
    statements = parse_model(text)
    assert len(statements) == 1, statements
    return statements[0]


def shape(statements: tuple[Statement, ...]) -> list[tuple[object, ...]]:
    """Positions-free view: (lhs, op, [(name, modifiers)], expr)."""
    return [(s.lhs, s.op, [(t.name, t.modifiers) for t in s.terms], s.expr) for s in statements]


# --------------------------------------------------------------------------- reference models

HS_CFA = """\
visual  =~ x1 + x2 + x3
textual =~ x4 + x5 + x6
speed   =~ x7 + x8 + x9
"""


def test_holzinger_swineford_cfa() -> None:
    assert parse_model(HS_CFA) == (
        stmt("visual", "=~", [term("x1", 1, 12), term("x2", 1, 17), term("x3", 1, 22)], 1, 1),
        stmt("textual", "=~", [term("x4", 2, 12), term("x5", 2, 17), term("x6", 2, 22)], 2, 1),
        stmt("speed", "=~", [term("x7", 3, 12), term("x8", 3, 17), term("x9", 3, 22)], 3, 1),
    )


POLDEM = """\
ind60 =~ x1 + x2 + x3
dem60 =~ y1 + y2 + y3 + y4
dem65 =~ y5 + y6 + y7 + y8
dem60 ~ ind60
dem65 ~ ind60 + dem60
y1 ~~ y5
y2 ~~ y4 + y6
y3 ~~ y7
y4 ~~ y8
y6 ~~ y8
"""

POLDEM_MEASUREMENT = (
    stmt("ind60", "=~", [term("x1", 1, 10), term("x2", 1, 15), term("x3", 1, 20)], 1, 1),
    stmt(
        "dem60",
        "=~",
        [term("y1", 2, 10), term("y2", 2, 15), term("y3", 2, 20), term("y4", 2, 25)],
        2,
        1,
    ),
    stmt(
        "dem65",
        "=~",
        [term("y5", 3, 10), term("y6", 3, 15), term("y7", 3, 20), term("y8", 3, 25)],
        3,
        1,
    ),
)
POLDEM_COVARIANCES = (
    stmt("y1", "~~", [term("y5", 6, 7)], 6, 1),
    stmt("y2", "~~", [term("y4", 7, 7), term("y6", 7, 12)], 7, 1),
    stmt("y3", "~~", [term("y7", 8, 7)], 8, 1),
    stmt("y4", "~~", [term("y8", 9, 7)], 9, 1),
    stmt("y6", "~~", [term("y8", 10, 7)], 10, 1),
)


def test_political_democracy_sem() -> None:
    assert parse_model(POLDEM) == (
        *POLDEM_MEASUREMENT,
        stmt("dem60", "~", [term("ind60", 4, 9)], 4, 1),
        stmt("dem65", "~", [term("ind60", 5, 9), term("dem60", 5, 17)], 5, 1),
        *POLDEM_COVARIANCES,
    )


POLDEM_LABELLED = """\
ind60 =~ x1 + x2 + x3
dem60 =~ y1 + y2 + y3 + y4
dem65 =~ y5 + y6 + y7 + y8
dem60 ~ a*ind60
dem65 ~ c*ind60 + b*dem60
y1 ~~ y5
y2 ~~ y4 + y6
y3 ~~ y7
y4 ~~ y8
y6 ~~ y8
ind := a*b
total := c + a*b
"""


def test_political_democracy_labelled_indirect_effect() -> None:
    statements = parse_model(POLDEM_LABELLED, filename="poldem.lav")
    assert statements == (
        *POLDEM_MEASUREMENT,
        stmt("dem60", "~", [term("ind60", 4, 11, label="a")], 4, 1),
        stmt(
            "dem65", "~", [term("ind60", 5, 11, label="c"), term("dem60", 5, 21, label="b")], 5, 1
        ),
        *POLDEM_COVARIANCES,
        stmt("ind", ":=", [], 11, 1, expr="a*b"),
        stmt("total", ":=", [], 12, 1, expr="c + a*b"),
    )
    # The expression text is ready for the expression parser.
    for s in statements[-2:]:
        assert s.expr is not None
        parse_expression(s.expr)


def test_dataclasses_are_frozen() -> None:
    s = only("f =~ x1")
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.lhs = "g"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.terms[0].modifiers.fixed = 1.0  # type: ignore[misc]


# --------------------------------------------------------------------------- modifiers


@pytest.mark.parametrize(
    ("rhs", "mods"),
    [
        ("x", Modifiers()),
        ("0.5*x", Modifiers(fixed=0.5)),
        ("1*x", Modifiers(fixed=1.0)),
        ("0*x", Modifiers(fixed=0.0)),
        ("-0.5*x", Modifiers(fixed=-0.5)),
        ("- 2*x", Modifiers(fixed=-2.0)),
        (".5*x", Modifiers(fixed=0.5)),
        ("1e-3*x", Modifiers(fixed=0.001)),
        ("-1.5E+2*x", Modifiers(fixed=-150.0)),
        ("NA*x", Modifiers(free=True)),
        ("start(0.7)*x", Modifiers(start=0.7)),
        ("start(-1e-2)*x", Modifiers(start=-0.01)),
        ("start( 2 )*x", Modifiers(start=2.0)),
        ("a*x", Modifiers(label="a")),
        ("lam.1_b*x", Modifiers(label="lam.1_b")),
        ('label("a")*x', Modifiers(label="a")),
        ("label('a')*x", Modifiers(label="a")),
        ('equal("a")*x', Modifiers(label="a")),
        ('prior("normal(0, 1)")*x', Modifiers(prior="normal(0, 1)")),
        ("prior('student_t(3, 0, 2.5)')*x", Modifiers(prior="student_t(3, 0, 2.5)")),
        (
            'prior("normal(0,1) # not a comment ! either")*x',
            Modifiers(prior="normal(0,1) # not a comment ! either"),
        ),
        # several modifiers, any order
        ("NA*start(0.7)*a*x", Modifiers(free=True, start=0.7, label="a")),
        ("a*start(0.7)*NA*x", Modifiers(free=True, start=0.7, label="a")),
        ('prior("normal(0,1)")*b*x', Modifiers(label="b", prior="normal(0,1)")),
        ('b * prior("normal(0,1)") * NA * x', Modifiers(free=True, label="b", prior="normal(0,1)")),
        ('0.5*label("l")*x', Modifiers(fixed=0.5, label="l")),
        # fixed + start/prior is not a syntax error (the table stage decides)
        ("start(1)*0.5*x", Modifiers(fixed=0.5, start=1.0)),
        # names that are modifier keywords only when called
        ("start*x", Modifiers(label="start")),
    ],
)
def test_modifiers(rhs: str, mods: Modifiers) -> None:
    s = only(f"f =~ {rhs}")
    assert s.op == "=~"
    assert [(t.name, t.modifiers) for t in s.terms] == [("x", mods)]
    assert s.terms[0].col == 6 + rhs.rindex("x")


def test_term_named_like_a_modifier_function() -> None:
    s = only("f =~ start + label + NAx")
    assert [t.name for t in s.terms] == ["start", "label", "NAx"]


def test_modifiers_on_every_operator() -> None:
    assert shape(parse_model("y ~ b1*x1 + 0*x2\ny ~~ NA*y\nf =~ start(.6)*x")) == [
        ("y", "~", [("x1", Modifiers(label="b1")), ("x2", Modifiers(fixed=0.0))], None),
        ("y", "~~", [("y", Modifiers(free=True))], None),
        ("f", "=~", [("x", Modifiers(start=0.6))], None),
    ]


def test_identifiers() -> None:
    s = only("F.1 =~ x.1 + x_2 + _x + .x + Größe")
    assert s.lhs == "F.1"
    assert [t.name for t in s.terms] == ["x.1", "x_2", "_x", ".x", "Größe"]


def test_duplicate_terms_are_kept_in_order() -> None:
    s = only("f =~ x1 + x2 + a*x1")
    assert [(t.name, t.modifiers.label) for t in s.terms] == [
        ("x1", None),
        ("x2", None),
        ("x1", "a"),
    ]


# --------------------------------------------------------------------------- layout


@pytest.mark.parametrize(
    "text",
    [
        "f =~ x1 + x2 + x3",
        "f =~ x1 + x2\n   + x3",
        "f =~ x1 +\n  x2 +\n  x3",
        "f =~\n  x1 + x2 + x3",
        "f =~ x1 + x2 # first two\n\n   # a comment line\n   + x3",
        "f =~ x1 + # trailing comment\n x2 + x3",
        "f =~ x1 + x2 +\n\n\n x3",
        "  f=~x1+x2+x3  ",
        "f =~ x1 + x2 + x3;",
        ";; f =~ x1 + x2 + x3 ;;",
        "\tf\t=~\tx1 +\tx2 + x3",
        "f =~ x1 +\r\n x2 +\r\n x3\r\n",
        "\ufefff =~ x1 + x2 + x3",
    ],
)
def test_layout_variants(text: str) -> None:
    assert shape(parse_model(text)) == [("f", "=~", [(x, FREE) for x in ("x1", "x2", "x3")], None)]


def test_multiline_positions() -> None:
    s = only("f =~ x1 + x2\n   + 0.5*x3")
    assert (s.line, s.col) == (1, 1)
    assert [(t.name, t.line, t.col) for t in s.terms] == [
        ("x1", 1, 6),
        ("x2", 1, 11),
        ("x3", 2, 10),
    ]


def test_continuation_after_modifier_star() -> None:
    s = only("f =~ 0.5*\n x1")
    assert s.terms == (term("x1", 2, 2, fixed=0.5),)


def test_comments() -> None:
    text = """\
# Holzinger-Swineford, three factors
! lavaan also accepts '!' comments
visual =~ x1 + x2 + x3   # visual
textual =~ x4 + x5 + x6  ! textual

# end
"""
    assert shape(parse_model(text)) == [
        ("visual", "=~", [("x1", FREE), ("x2", FREE), ("x3", FREE)], None),
        ("textual", "=~", [("x4", FREE), ("x5", FREE), ("x6", FREE)], None),
    ]
    assert [s.line for s in parse_model(text)] == [3, 4]


def test_semicolons() -> None:
    statements = parse_model("f =~ x1 + x2; y ~ f; y ~~ y")
    assert [(s.lhs, s.op, s.line, s.col) for s in statements] == [
        ("f", "=~", 1, 1),
        ("y", "~", 1, 15),
        ("y", "~~", 1, 22),
    ]


def test_multiple_lhs() -> None:
    statements = parse_model("y1 + y2 + y3 ~ a*x + z")
    assert [(s.lhs, s.op, s.col) for s in statements] == [
        ("y1", "~", 1),
        ("y2", "~", 6),
        ("y3", "~", 11),
    ]
    assert all(s.terms == statements[0].terms for s in statements)
    assert [(t.name, t.modifiers.label) for t in statements[0].terms] == [("x", "a"), ("z", None)]
    assert [s.lhs for s in parse_model("f1 + f2 =~ x")] == ["f1", "f2"]
    assert [s.lhs for s in parse_model("y1 +\n y2 ~~ z")] == ["y1", "y2"]


# --------------------------------------------------------------------------- intercepts


@pytest.mark.parametrize(
    ("text", "mods"),
    [
        ("y ~ 1", Modifiers()),
        ("y ~ 0*1", Modifiers(fixed=0.0)),
        ("f ~ start(2)*1", Modifiers(start=2.0)),
        ("y ~ a*1", Modifiers(label="a")),
        ("y ~ NA*1", Modifiers(free=True)),
        ('y ~ prior("normal(0, 10)")*1', Modifiers(prior="normal(0, 10)")),
    ],
)
def test_intercepts(text: str, mods: Modifiers) -> None:
    s = only(text)
    assert (s.op, s.expr) == ("~1", None)
    assert s.terms == (Term("1", mods, 1, len(text)),)


def test_mixed_intercept_and_regression() -> None:
    assert parse_model("y ~ 1 + x") == (
        stmt("y", "~1", [term("1", 1, 5)], 1, 1),
        stmt("y", "~", [term("x", 1, 9)], 1, 1),
    )
    # statements follow the order of the first term of each kind
    assert [(s.op, [t.name for t in s.terms]) for s in parse_model("y ~ x1 + 1 + x2")] == [
        ("~", ["x1", "x2"]),
        ("~1", ["1"]),
    ]
    assert [(s.lhs, s.op) for s in parse_model("y1 + y2 ~ 1")] == [("y1", "~1"), ("y2", "~1")]


# --------------------------------------------------------------------------- := and constraints


def test_defined_parameters() -> None:
    statements = parse_model(
        "ind := a*b\ntotal := c + a*b\nratio:=a/(a + b)^2\nlong := a +\n   b*c\nneg := -a"
    )
    assert [(s.lhs, s.op, s.expr, s.terms, s.line) for s in statements] == [
        ("ind", ":=", "a*b", (), 1),
        ("total", ":=", "c + a*b", (), 2),
        ("ratio", ":=", "a/(a + b)^2", (), 3),
        ("long", ":=", "a + b*c", (), 4),
        ("neg", ":=", "-a", (), 6),
    ]


def test_constraints() -> None:
    statements = parse_model("a == b\na < 1\n2*a > b^2\na1 + a2 == 2*(b - 1)")
    assert [(s.lhs, s.op, s.expr, s.terms) for s in statements] == [
        ("a", "==", "b", ()),
        ("a", "<", "1", ()),
        ("2*a", ">", "b^2", ()),
        ("a1 + a2", "==", "2*(b - 1)", ()),
    ]
    assert [(s.line, s.col) for s in statements] == [(1, 1), (2, 1), (3, 1), (4, 1)]


# --------------------------------------------------------------------------- errors


def check_error(
    text: str, line: int, col: int, fragment: str, filename: str | None = "models/foo.lav"
) -> ModelSyntaxError:
    with pytest.raises(ModelSyntaxError) as info:
        parse_model(text, filename)
    err = info.value
    assert (err.line, err.col) == (line, col), str(err)
    assert fragment in err.reason, err.reason
    assert "expected" in err.reason
    assert err.filename == filename
    source_line = text.split("\n")[line - 1].rstrip("\r")
    assert err.source_line == source_line
    head, shown, caret = str(err).split("\n")
    shown_name = "<model>" if filename is None else filename
    assert head == f"{shown_name}:{line}:{col}: {err.reason}"
    assert shown == "    " + source_line
    assert caret == "    " + " " * (col - 1) + "^"
    return err


@pytest.mark.parametrize(
    ("text", "line", "col", "fragment"),
    [
        # missing operator
        ("visual x1", 1, 8, "expected an operator (=~, ~, ~~, :=, ==, <, >) after 'visual'"),
        ("visual", 1, 7, "after 'visual', found the end of the model"),
        ("f =~ x1\nx2", 2, 3, "to continue the previous statement"),
        ("f =~ x1\n0.5*x2", 2, 1, "expected a variable name at the start of the statement"),
        # missing right-hand side
        ("f =~", 1, 5, "expected a variable name after '=~', found the end of the model"),
        ("f =~ ;", 1, 6, "expected a variable name after '=~', found ';'"),
        ("f =~\n\ng =~ x", 1, 5, "expected a variable name after '=~', found the end of the line"),
        ("ind :=", 1, 7, "expected an expression after ':='"),
        ("a ==", 1, 5, "expected an expression after '=='"),
        # dangling / doubled '+'
        ("visual =~ x1 + + x2", 1, 16, "expected a variable name after '+', found '+'"),
        ("f =~ x1 +", 1, 10, "expected a variable name after '+', found the end of the model"),
        ("f =~ x1 +;", 1, 10, "expected a variable name after '+', found ';'"),
        (
            "visual =~ x1 + x2 +\ntextual =~ x4",
            1,
            20,
            "expected a variable name after '+', found the end of the line",
        ),
        ("+ x1", 1, 1, "expected a variable name at the start of the statement, found '+'"),
        ("f + =~ x", 1, 5, "expected a variable name after '+', found '=~'"),
        # unknown characters
        ("f =~ x1 $ x2", 1, 9, "unexpected character '$'"),
        ("f =~ x1 + x2\ng =~ x3 @ x4", 2, 9, "unexpected character '@'"),
        ("f = x1", 1, 3, "unexpected '='; expected an operator such as '=~'"),
        ("a <= b", 1, 3, "'<=' is not a lavaan operator"),
        ("y ~ x1:x2", 1, 7, "expected ':='"),
        ("f =~ 0.7?x1", 1, 9, "start(0.7)*x"),
        # unclosed parentheses and quotes in modifiers
        ("f =~ start(0.7*x1", 1, 15, "expected ')' to close 'start(', found '*'"),
        ("f =~ start(0.7", 1, 15, "expected ')' to close 'start(', found the end of the model"),
        ('f =~ label("a"*x1', 1, 15, "expected ')' to close 'label('"),
        ('f =~ label("a)*x1', 1, 12, 'unclosed string: expected a closing "'),
        ("f =~ prior('normal(0, 1)*x1\n", 1, 12, "unclosed string: expected a closing '"),
        ("f =~ start(1) x", 1, 15, "expected '*' and a variable name after start(...)"),
        # bad numbers
        ("f =~ start(abc)*x1", 1, 12, "expected a number inside start(), found 'abc'"),
        ("f =~ start()*x1", 1, 12, "expected a number inside start(), found ')'"),
        ("f =~ start(NA)*x1", 1, 12, "expected a number inside start()"),
        ("f =~ start(0.7.1)*x1", 1, 12, "invalid number '0.7.1'"),
        ("f =~ start(1e)*x1", 1, 12, "invalid number '1e'"),
        ("f =~ 2x1", 1, 6, "invalid number '2x1'"),
        ("f =~ 1e999*x1", 1, 6, "is too large"),
        ("f =~ 0.5", 1, 9, "expected '*' after the number 0.5"),
        ("y ~ 2", 1, 6, "only the intercept '1' may stand alone"),
        ("y ~~ 1", 1, 7, "an intercept '1' is only allowed on the right of '~'"),
        ("y ~ -1", 1, 7, "expected '*' after the number -1"),
        # other modifier problems
        ("f =~ label(a)*x", 1, 12, "expected a quoted label inside label()"),
        ("f =~ prior(1)*x", 1, 12, "expected a quoted prior inside prior()"),
        ('f =~ label("1a")*x', 1, 12, "is not a valid name"),
        ('f =~ prior("")*x', 1, 12, "found an empty string"),
        ("f =~ foo(1)*x", 1, 6, "unknown modifier 'foo(...)'"),
        ("f =~ c(1 2)*x", 1, 10, "expected ',' or ')' inside c(...)"),
        ("f =~ c(1, *)*x", 1, 11, "expected a label, a number or NA inside c(...)"),
        ("f =~ NA", 1, 6, "NA is not a variable name"),
        ('f =~ "x1"', 1, 6, 'found the string "x1"'),
        ("a*f =~ x", 1, 2, "modifiers are not allowed on the left of '=~'"),
        ("f g =~ x", 1, 3, "expected '+' or '=~' after 'f', found 'g'"),
        ("f =~ x1 x2", 1, 9, "expected '+' or the end of the statement after 'x1', found 'x2'"),
        ("f =~ x1 - x2", 1, 9, "found '-'"),
        # conflicting modifiers
        ("f =~ a*b*x", 1, 8, "already has the label 'a'"),
        ('f =~ a*label("b")*x', 1, 8, "already has the label 'a'"),
        ("f =~ 0.5*NA*x", 1, 10, "conflicting modifiers"),
        ("f =~ NA*0.5*x", 1, 9, "conflicting modifiers"),
        ("f =~ NA*-0.5*x", 1, 9, "conflicting modifiers"),
        ("f =~ 1*2*x", 1, 8, "already has the fixed value 1"),
        ("f =~ NA*NA*x", 1, 9, "already has NA"),
        ("f =~ start(1)*start(2)*x", 1, 15, "already has the start value 1"),
        ('f =~ prior("a")*prior("b")*x', 1, 17, "already has the prior 'a'"),
        # operators
        ("f <~ x1 + x2", 1, 3, "operator '<~' is not supported by bayes-bmi yet"),
        ("f ~*~ f", 1, 3, "operator '~*~' is not supported by bayes-bmi yet"),
        ("u1 | t1", 1, 4, "operator '|' is not supported by bayes-bmi yet"),
        ("f % x", 1, 3, "operator '%' is not supported by bayes-bmi yet"),
        ("f =~ x1 ~ x2", 1, 9, "unexpected second operator '~'"),
        ("a == b == c", 1, 8, "unexpected second operator '=='"),
        # defined parameters and constraints
        ("2 := a*b", 1, 1, "expected a parameter name before ':=', found '2'"),
        ("a b := c", 1, 3, "expected ':=' after the parameter name 'a', found 'b'"),
        (":= a", 1, 1, "expected a parameter name before ':='"),
        ("== b", 1, 1, "expected an expression before '=='"),
        ("ind := a*", 1, 10, "invalid expression: expected a number, a name or '(' after '*'"),
        ("ind := a**b", 1, 9, "'**' is not supported; expected '^'"),
        ("ind := exp(a)", 1, 11, "function calls such as 'exp(...)' are not supported"),
        ("x =~ y\nind := a * (b\n", 2, 14, "expected ')' to close the opening '('"),
        ("ind := a +\n  b c", 2, 5, "found name 'c'"),
        ("total := c +\nind := a*b", 1, 13, "after '+', found the end of the expression"),
        ('ind := "a"*b', 1, 8, "unexpected character '\"'"),
        ("ind := a, b", 1, 9, "unexpected character ','"),
        ("a + b c == 1", 1, 7, "found name 'c'"),
        ("a == b c", 1, 8, "found name 'c'"),
        # empty model
        ("", 1, 1, "the model has no statements"),
        ("  \n# only a comment\n ; ;\n", 1, 1, "the model has no statements"),
    ],
)
def test_errors(text: str, line: int, col: int, fragment: str) -> None:
    check_error(text, line, col, fragment)


def test_error_message_format() -> None:
    text = "visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6\nvisual =~ x1 + + x2\n"
    err = check_error(text, 3, 16, "expected a variable name after '+'")
    assert str(err) == (
        "models/foo.lav:3:16: expected a variable name after '+', found '+'\n"
        "    visual =~ x1 + + x2\n"
        "                   ^"
    )


def test_error_without_filename_uses_model_placeholder() -> None:
    err = check_error("f =~", 1, 5, "expected a variable name", filename=None)
    assert str(err).startswith("<model>:1:5: ")


def test_error_caret_keeps_tabs_aligned() -> None:
    with pytest.raises(ModelSyntaxError) as info:
        parse_model("\tf =~\tx1 + \t+ x2")
    _, shown, caret = str(info.value).split("\n")
    assert info.value.col == 13
    assert shown == "    \tf =~\tx1 + \t+ x2"
    assert caret == "    \t    \t     \t^"


def test_error_with_crlf_line_endings() -> None:
    err = check_error("f =~ x1\r\ng =~ x2 + + x3\r\n", 2, 11, "after '+', found '+'")
    assert "\r" not in str(err)


def test_model_syntax_error_is_value_error_and_pickles() -> None:
    with pytest.raises(ValueError) as info:
        parse_model("f =~ x1 +", "m.lav")
    err = pickle.loads(pickle.dumps(info.value))
    assert isinstance(err, ModelSyntaxError)
    assert str(err) == str(info.value)
    assert (err.filename, err.line, err.col) == ("m.lav", 1, 10)


def test_expression_errors_chain_the_original() -> None:
    with pytest.raises(ModelSyntaxError) as info:
        parse_model("f =~ x\n  total :=   c + a*(b")
    assert (info.value.line, info.value.col) == (2, 22)
    assert info.value.__cause__ is not None


# --------------------------------------------------------------------------- robustness

_FUZZ_ALPHABET = "fxy1.5aeNA_ =~<>:|%!#*+-/^()\"',;\n\t"
_FUZZ_WORDS = ["f", "x1", "=~", "~", "~~", ":=", "==", "NA", "start(", "label(", "prior(", "1"]


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.one_of(st.sampled_from(_FUZZ_WORDS), st.text(_FUZZ_ALPHABET, max_size=3)),
        max_size=20,
    ).map(" ".join)
)
def test_arbitrary_text_parses_or_raises_model_syntax_error(text: str) -> None:
    try:
        statements = parse_model(text)
    except ModelSyntaxError as err:
        lines = text.split("\n")
        assert 1 <= err.line <= len(lines)
        assert 1 <= err.col <= len(lines[err.line - 1]) + 1
        assert str(err).count("\n") == 2
        return
    assert statements
    for s in statements:
        assert s.op in ("=~", "~", "~~", "~1", ":=", "==", "<", ">")
        if s.expr is not None:
            parse_expression(s.expr)
