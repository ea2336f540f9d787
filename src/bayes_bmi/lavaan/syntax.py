"""Parser for lavaan model syntax: text -> tokens -> statements.

This module only reads the text of a model; it does not decide what the
statements mean (that is the parameter-table stage). It is pure: no I/O.

Supported statements::

    visual =~ x1 + 0.5*x2 + NA*start(0.7)*x3     # measurement
    dem65 ~ c*ind60 + b*dem60                     # regression
    y1 ~~ y5                                      # (co)variance
    y ~ 1          y ~ 0*1          f ~ start(2)*1  # intercepts (op '~1')
    ind := a*b                                    # defined parameter
    a == b    a < 1    2*a > b                    # constraints

Layout rules:

* ``+`` joins terms; several left-hand names joined by ``+`` (``y1 + y2 ~ x``)
  expand to one statement per name.
* A newline or ``;`` ends a statement, except that a line ending with an
  operator, ``+``, ``-``, ``*``, ``/`` or ``^``, or a line followed by a line
  starting with ``+``, continues onto the next line.
* ``#`` and ``!`` start a comment that runs to the end of the line (not inside
  quoted strings).
* Modifiers precede a variable, joined by ``*``: a number (fixed value), ``NA``
  (free), a name (label), ``start(number)``, ``label("a")``, ``equal("a")``
  and ``prior("text")``.

A mixed regression ``y ~ 1 + x`` yields two statements: a ``'~1'`` statement
for the intercept and a ``'~'`` statement with the other terms, in the order in
which their first term appears.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bayes_bmi.errors import BayesBmiError
from bayes_bmi.lavaan.expressions import (
    Expr,
    ExpressionError,
    _number_value,
    _scan_name,
    _scan_number,
    parse_expression,
)

__all__ = [
    "SUPPORTED_OPERATORS",
    "UNSUPPORTED_OPERATORS",
    "ModelSyntaxError",
    "Modifiers",
    "Statement",
    "Term",
    "parse_model",
]

#: Operators a :class:`Statement` can carry (``'~1'`` is produced from ``y ~ 1``).
SUPPORTED_OPERATORS = ("=~", "~", "~~", "~1", ":=", "==", "<", ">")
#: lavaan operators that are recognised but rejected.
UNSUPPORTED_OPERATORS = ("<~", "~*~", "|", "%")

# Operator tokens, longest first so that "~~" wins over "~" and "<~" over "<".
_OPERATOR_TOKENS = ("~*~", "=~", "~~", ":=", "==", "<~", "~", "<", ">", "|", "%")
_WRITTEN_OPERATORS = "=~, ~, ~~, :=, ==, <, >"
_PUNCTUATION = frozenset("+-*/^(),;")
# A line whose last token is one of these kinds continues onto the next line.
_CONTINUE_AFTER = frozenset({"op", "+", "-", "*", "/", "^"})
_END_KINDS = frozenset({"newline", ";", "eof"})
_MODIFIER_FUNCTIONS = ("start", "label", "equal", "prior")


class ModelSyntaxError(BayesBmiError):
    """Raised for any error in lavaan model syntax.

    ``str(err)`` names the file, line and column, repeats the offending source
    line and puts a caret under the fault::

        models/foo.lav:3:16: expected a variable name after '+', found '+'
            visual =~ x1 + + x2
                           ^

    Parameters
    ----------
    reason : str
        What went wrong and what was expected.
    line : int
        1-based line of the fault.
    col : int
        1-based column of the fault (may be one past the end of the line).
    source_line : str
        The text of line ``line``.
    filename : str or None, optional
        Name shown in the message; ``"<model>"`` when ``None``.

    Attributes
    ----------
    reason, line, col, source_line, filename
        As given.
    """

    def __init__(
        self,
        reason: str,
        line: int,
        col: int,
        source_line: str,
        filename: str | None = None,
    ) -> None:
        super().__init__(reason, line, col, source_line, filename)
        self.reason = reason
        self.line = line
        self.col = col
        self.source_line = source_line
        self.filename = filename

    def __str__(self) -> str:
        where = "<model>" if self.filename is None else self.filename
        before = self.source_line[: self.col - 1]
        pad = "".join("\t" if ch == "\t" else " " for ch in before)
        pad += " " * (self.col - 1 - len(before))
        return f"{where}:{self.line}:{self.col}: {self.reason}\n    {self.source_line}\n    {pad}^"


@dataclass(frozen=True)
class Modifiers:
    """Modifiers written before a variable, e.g. ``NA*start(0.7)*a*x``.

    Attributes
    ----------
    fixed : float or None
        Fixed value (``0.5*x``, ``1*x``).
    free : bool
        ``True`` for ``NA*x`` (explicitly free, e.g. a freed marker loading).
    start : float or None
        Start value from ``start(0.7)*x``.
    label : str or None
        From ``a*x``, ``label("a")*x`` or ``equal("a")*x``.
    prior : str or None
        Unparsed prior text from ``prior("normal(0, 1)")*x``.
    groups : tuple of Modifiers
        One entry per group from a multi-group modifier ``c(...)`` (lavaan's ``c(a1, a2)*x``,
        ``c(NA, 0)*x``, ``c(0.5, 0.7)*x``): a name is that group's label, a number its fixed
        value, ``NA`` frees it. Empty (default) when no ``c(...)`` was written; the single-value
        modifiers above then hold in every group.
    """

    fixed: float | None = None
    free: bool = False
    start: float | None = None
    label: str | None = None
    prior: str | None = None
    groups: tuple[Modifiers, ...] = ()

    def for_group(self, g: int) -> Modifiers:
        """The modifiers of group ``g`` (0-based): ``c(...)`` entries over the shared ones."""
        if not self.groups:
            return self
        own = self.groups[g]
        fixed = own.fixed if own.fixed is not None or own.free else self.fixed
        return Modifiers(
            fixed=fixed,
            free=own.free or (self.free and own.fixed is None),
            start=self.start,
            label=own.label if own.label is not None else self.label,
            prior=self.prior,
        )


@dataclass(frozen=True)
class Term:
    """One right-hand term of a ``=~``, ``~``, ``~~`` or ``~1`` statement.

    Attributes
    ----------
    name : str
        Variable name, or ``"1"`` for an intercept.
    modifiers : Modifiers
    line, col : int
        1-based position of the variable name (or of the ``1``).
    """

    name: str
    modifiers: Modifiers
    line: int
    col: int


@dataclass(frozen=True)
class Statement:
    """One parsed statement.

    Attributes
    ----------
    lhs : str
        Left-hand variable name; for ``:=`` the defined parameter's name; for
        ``==``, ``<`` and ``>`` the left-hand expression text.
    op : str
        One of ``'=~'``, ``'~'``, ``'~~'``, ``'~1'``, ``':='``, ``'=='``, ``'<'``, ``'>'``.
    terms : tuple of Term
        Right-hand terms in order of appearance (empty for ``:=``, ``==``, ``<``,
        ``>``). The same variable may appear twice; merging is left to the caller.
    expr : str or None
        For ``:=``, ``==``, ``<``, ``>``: the right-hand expression text
        (whitespace-normalised; it parses with
        :func:`bayes_bmi.lavaan.expressions.parse_expression`). ``None`` otherwise.
    line, col : int
        1-based position of the left-hand side.
    expression : Expr or None
        ``expr`` parsed (the parser checks it, so it keeps the tree); not part of equality.
    """

    lhs: str
    op: str
    terms: tuple[Term, ...]
    expr: str | None
    line: int
    col: int
    expression: Expr | None = field(default=None, compare=False, repr=False)


# --------------------------------------------------------------------------- source & tokens


@dataclass(frozen=True)
class _Source:
    lines: tuple[str, ...]
    filename: str | None

    def error(self, reason: str, line: int, col: int) -> ModelSyntaxError:
        source_line = self.lines[line - 1] if 1 <= line <= len(self.lines) else ""
        return ModelSyntaxError(reason, line, col, source_line, self.filename)


@dataclass(frozen=True)
class _Token:
    kind: str  # "name" "number" "string" "op" "newline" "eof" or a punctuation char
    text: str
    line: int
    col: int
    value: float | str | None = None  # number value or string contents

    @property
    def end_col(self) -> int:
        return self.col + len(self.text)


def _describe(tok: _Token) -> str:
    match tok.kind:
        case "newline":
            return "the end of the line"
        case "eof":
            return "the end of the model"
        case "string":
            return f"the string {tok.text}"
        case _:
            return f"'{tok.text}'"


def _is_identifier(text: str) -> bool:
    return bool(text) and _scan_name(text, 0) == len(text)


def _unknown_character(text: str, i: int) -> str:
    ch = text[i]
    if ch == "=":
        if i > 0 and text[i - 1] in "<>":
            return f"'{text[i - 1]}=' is not a lavaan operator; expected '<' or '>'"
        return "unexpected '='; expected an operator such as '=~', '==' or ':='"
    if ch == ":":
        return "unexpected ':'; expected ':=' (interaction terms such as x:z are not supported)"
    if ch == "?":
        return "unexpected '?'; expected start values written as start(0.7)*x"
    return (
        f"unexpected character {ch!r}; expected a variable name, a number, an operator "
        f"({_WRITTEN_OPERATORS}), '+', '*' or a comment"
    )


def _tokenize(text: str, src: _Source) -> list[_Token]:
    tokens: list[_Token] = []
    line, line_start, i, n = 1, 0, 0, len(text)
    while i < n:
        ch = text[i]
        col = i - line_start + 1
        if ch == "\n":
            tokens.append(_Token("newline", "", line, col))
            line += 1
            line_start = i = i + 1
            continue
        if ch in "#!":
            newline = text.find("\n", i)
            i = n if newline < 0 else newline
            continue
        if ch.isspace() or ch == "\ufeff":
            i += 1
            continue
        if ch in "\"'":
            close = text.find(ch, i + 1)
            newline = text.find("\n", i + 1)
            if close < 0 or 0 <= newline < close:
                raise src.error(
                    f"unclosed string: expected a closing {ch} before the end of the line",
                    line,
                    col,
                )
            tokens.append(_Token("string", text[i : close + 1], line, col, text[i + 1 : close]))
            i = close + 1
            continue
        if _scan_number(text, i) is not None:
            value, end, problem = _number_value(text, i)
            if problem is not None:
                raise src.error(problem, line, col)
            tokens.append(_Token("number", text[i:end], line, col, value))
            i = end
            continue
        end = _scan_name(text, i)
        if end is not None:
            tokens.append(_Token("name", text[i:end], line, col))
            i = end
            continue
        op = next((op for op in _OPERATOR_TOKENS if text.startswith(op, i)), None)
        if op is not None:
            tokens.append(_Token("op", op, line, col))
            i += len(op)
            continue
        if ch in _PUNCTUATION:
            tokens.append(_Token(ch, ch, line, col))
            i += 1
            continue
        if ch == "=" and i > line_start and text[i - 1] in "<>":
            col -= 1  # point at the start of '<=' / '>='
        raise src.error(_unknown_character(text, i), line, col)
    tokens.append(_Token("eof", "", line, n - line_start + 1))
    return tokens


# --------------------------------------------------------------------------- statements


@dataclass(frozen=True)
class _Chunk:
    """The tokens of one statement.

    ``end`` is the token that ended it (newline, ``;`` or eof). ``breaks`` lists
    the newlines swallowed by line continuation, each as (number of statement
    tokens before it, newline token).
    """

    tokens: tuple[_Token, ...]
    end: _Token
    breaks: tuple[tuple[int, _Token], ...]


def _split(tokens: list[_Token]) -> list[_Chunk]:
    # next_significant[k]: the first non-newline token after position k.
    next_significant: list[_Token] = [tokens[-1]] * len(tokens)
    following = tokens[-1]
    for k in range(len(tokens) - 1, -1, -1):
        next_significant[k] = following
        if tokens[k].kind != "newline":
            following = tokens[k]

    chunks: list[_Chunk] = []
    current: list[_Token] = []
    breaks: list[tuple[int, _Token]] = []
    for k, tok in enumerate(tokens):
        if tok.kind == "newline":
            if not current:
                continue
            if current[-1].kind in _CONTINUE_AFTER or next_significant[k].kind == "+":
                breaks.append((len(current), tok))
                continue
        elif tok.kind not in (";", "eof"):
            current.append(tok)
            continue
        if current:
            chunks.append(_Chunk(tuple(current), tok, tuple(breaks)))
        current, breaks = [], []
    return chunks


class _StatementParser:
    """Parses the tokens of one statement (one instance per statement)."""

    def __init__(self, src: _Source, chunk: _Chunk, has_previous: bool) -> None:
        self.src = src
        self.chunk = chunk
        self.has_previous = has_previous
        self.toks = (*chunk.tokens, chunk.end)
        self.i = 0

    # ---------------------------------------------------------------- helpers

    def tok(self, k: int) -> _Token:
        return self.toks[min(k, len(self.toks) - 1)]

    def error_at(self, k: int, reason: str) -> ModelSyntaxError:
        """Error located at token ``k``; for an end of line/model, just after the last token."""
        k = min(k, len(self.toks) - 1)
        tok = self.toks[k]
        if tok.kind in ("newline", "eof") and k > 0:
            prev = self.toks[k - 1]
            return self.src.error(reason, prev.line, prev.end_col)
        return self.src.error(reason, tok.line, tok.col)

    # ---------------------------------------------------------------- top level

    def parse(self) -> list[Statement]:
        tokens = self.chunk.tokens
        ops = [k for k, t in enumerate(tokens) if t.kind == "op"]
        if not ops:
            raise self._missing_operator()
        first = ops[0]
        op = tokens[first].text
        if op in UNSUPPORTED_OPERATORS:
            raise self.error_at(
                first,
                f"operator '{op}' is not supported by bayes-bmi yet; "
                f"expected one of {_WRITTEN_OPERATORS}",
            )
        stop = ops[1] if len(ops) > 1 else len(tokens)
        if op == ":=":
            return self._defined(first, stop)
        if op in ("==", "<", ">"):
            return self._constraint(first, stop)
        return self._formula(first, stop)

    def _missing_operator(self) -> ModelSyntaxError:
        k = 0
        while True:
            name = self.tok(k)
            if name.kind != "name":
                where = "at the start of the statement" if k == 0 else "after '+'"
                return self.error_at(
                    k, f"expected a variable name {where}, found {_describe(name)}"
                )
            k += 1
            if self.tok(k).kind != "+":
                break
            k += 1
        found = self.tok(k)
        reason = (
            f"expected an operator ({_WRITTEN_OPERATORS}) after '{name.text}', "
            f"found {_describe(found)}"
        )
        if found.kind in _END_KINDS and self.has_previous:
            reason += (
                " (to continue the previous statement, end its line with '+' "
                "or start this line with '+')"
            )
        return self.error_at(k, reason)

    def _second_operator(self, first: int, second: int) -> ModelSyntaxError:
        # If a line continuation glued the next statement onto this one (e.g. a
        # dangling '+'), report the error where the first line really ended.
        for count, newline in reversed(self.chunk.breaks):
            if first < count <= second:
                truncated = _Chunk(
                    self.chunk.tokens[:count],
                    newline,
                    tuple(b for b in self.chunk.breaks if b[0] < count),
                )
                try:
                    _StatementParser(self.src, truncated, self.has_previous).parse()
                except ModelSyntaxError as err:
                    return err
                break
        op = self.toks[second].text
        return self.error_at(
            second,
            f"unexpected second operator '{op}'; expected '+' or the end of the statement "
            "(start a new statement on a new line or after ';')",
        )

    # ---------------------------------------------------------------- =~ ~ ~~

    def _formula(self, first: int, stop: int) -> list[Statement]:
        op_tok = self.toks[first]
        names = self._lhs_names(first)
        self.i = first + 1
        terms: list[Term] = []
        while True:
            terms.append(self._term(op_tok.text))
            if self.i == stop:
                if stop < len(self.chunk.tokens):
                    raise self._second_operator(first, stop)
                break
            found = self.tok(self.i)
            if found.kind != "+":
                raise self.error_at(
                    self.i,
                    f"expected '+' or the end of the statement after "
                    f"'{self.tok(self.i - 1).text}', found {_describe(found)}",
                )
            self.i += 1

        # Split intercepts ('1') from the other terms of a regression.
        parts: list[tuple[int, str, tuple[Term, ...]]] = []
        if op_tok.text == "~":
            regular = tuple(t for t in terms if t.name != "1")
            if regular:
                parts.append((terms.index(regular[0]), "~", regular))
            parts.extend((k, "~1", (t,)) for k, t in enumerate(terms) if t.name == "1")
            parts.sort(key=lambda part: part[0])
        else:
            parts.append((0, op_tok.text, tuple(terms)))
        return [
            Statement(name.text, op, part_terms, None, name.line, name.col)
            for name in names
            for _, op, part_terms in parts
        ]

    def _lhs_names(self, first: int) -> list[_Token]:
        op = self.toks[first].text
        if first == 0:
            raise self.error_at(0, f"expected a variable name before '{op}'")
        names: list[_Token] = []
        k = 0
        while True:
            tok = self.toks[k]
            if tok.kind != "name":
                where = "at the start of the statement" if k == 0 else "after '+'"
                raise self.error_at(k, f"expected a variable name {where}, found {_describe(tok)}")
            names.append(tok)
            k += 1
            if k == first:
                return names
            found = self.toks[k]
            if found.kind == "*":
                raise self.error_at(
                    k,
                    f"modifiers are not allowed on the left of '{op}'; expected '+' or "
                    f"'{op}' after '{tok.text}'",
                )
            if found.kind != "+":
                raise self.error_at(
                    k, f"expected '+' or '{op}' after '{tok.text}', found {_describe(found)}"
                )
            k += 1

    def _term(self, op: str) -> Term:
        """Parse ``modifier*modifier*...*name`` starting at ``self.i``."""
        mods: dict[str, Any] = {}
        while True:
            k = self.i
            tok = self.tok(k)
            nxt = self.tok(k + 1)
            if tok.kind == "name":
                if nxt.kind == "(":
                    kind, value = self._modifier_function()
                    self._set_modifier(mods, kind, value, k)
                    if self.tok(self.i).kind != "*":
                        raise self.error_at(
                            self.i,
                            f"expected '*' and a variable name after {tok.text}(...), "
                            f"found {_describe(self.tok(self.i))}",
                        )
                    self.i += 1
                    continue
                if nxt.kind == "*":
                    if tok.text == "NA":
                        self._set_modifier(mods, "free", True, k)
                    else:
                        self._set_modifier(mods, "label", tok.text, k)
                    self.i = k + 2
                    continue
                if tok.text == "NA":
                    raise self.error_at(
                        k, "NA is not a variable name; expected NA*x to free the parameter of x"
                    )
                self.i = k + 1
                return Term(tok.text, _modifiers(mods), tok.line, tok.col)
            if tok.kind == "number" or (tok.kind == "-" and nxt.kind == "number"):
                negative = tok.kind == "-"
                num_k = k + 1 if negative else k
                num = self.tok(num_k)
                assert isinstance(num.value, float)
                value = -num.value if negative else num.value
                text = f"-{num.text}" if negative else num.text
                if self.tok(num_k + 1).kind == "*":
                    self._set_modifier(mods, "fixed", value, k)
                    self.i = num_k + 2
                    continue
                if op == "~" and not negative and value == 1.0:
                    self.i = num_k + 1
                    return Term("1", _modifiers(mods), num.line, num.col)
                if op == "~":
                    hint = "only the intercept '1' may stand alone on the right of '~'"
                elif value == 1.0:
                    hint = "an intercept '1' is only allowed on the right of '~'"
                else:
                    hint = f"a fixed value is written as {text}*x"
                raise self.error_at(
                    num_k + 1,
                    f"expected '*' after the number {text}, found "
                    f"{_describe(self.tok(num_k + 1))} ({hint})",
                )
            if tok.kind == "string":
                raise self.error_at(
                    k,
                    f"expected a variable name, found the string {tok.text} (quoted text is "
                    "only allowed inside label(), equal() and prior())",
                )
            prev = self.tok(k - 1)
            raise self.error_at(
                k, f"expected a variable name after '{prev.text}', found {_describe(tok)}"
            )

    def _modifier_function(self) -> tuple[str, float | str]:
        """Parse ``start(..)``, ``label(..)``, ``equal(..)`` or ``prior(..)`` at ``self.i``."""
        k = self.i
        fn = self.tok(k).text
        if fn == "c":
            return "groups", self._group_values(k)
        if fn not in _MODIFIER_FUNCTIONS:
            raise self.error_at(
                k,
                f"unknown modifier '{fn}(...)'; expected start(), label(), equal() or prior()",
            )
        k += 2  # skip the name and '('
        tok = self.tok(k)
        value: float | str
        if fn == "start":
            negative = tok.kind == "-" and self.tok(k + 1).kind == "number"
            if negative:
                k += 1
                tok = self.tok(k)
            if tok.kind != "number":
                raise self.error_at(k, f"expected a number inside start(), found {_describe(tok)}")
            assert isinstance(tok.value, float)
            value = -tok.value if negative else tok.value
            kind = "start"
        else:
            what = "prior" if fn == "prior" else "label"
            if tok.kind != "string":
                example = '"normal(0, 1)"' if fn == "prior" else '"a"'
                raise self.error_at(
                    k,
                    f"expected a quoted {what} inside {fn}(), e.g. {fn}({example}), "
                    f"found {_describe(tok)}",
                )
            assert isinstance(tok.value, str)
            value = tok.value
            if what == "label" and not _is_identifier(value):
                raise self.error_at(
                    k,
                    f"label {tok.text} is not a valid name; expected letters, digits, '_' "
                    "or '.', not starting with a digit",
                )
            if what == "prior" and not value.strip():
                raise self.error_at(
                    k, "expected a prior distribution inside prior(), found an empty string"
                )
            kind = what
        k += 1
        if self.tok(k).kind != ")":
            raise self.error_at(k, f"expected ')' to close '{fn}(', found {_describe(self.tok(k))}")
        self.i = k + 1
        return kind, value

    def _group_values(self, k: int) -> tuple[Modifiers, ...]:
        """Parse ``c(v1, v2, ...)`` at token ``k``: a label, number or NA per group."""
        out: list[Modifiers] = []
        k += 2  # skip 'c' and '('
        while True:
            tok, nxt = self.tok(k), self.tok(k + 1)
            if tok.kind == "-" and nxt.kind == "number":
                assert isinstance(nxt.value, float)
                out.append(Modifiers(fixed=-nxt.value))
                k += 2
            elif tok.kind == "number":
                assert isinstance(tok.value, float)
                out.append(Modifiers(fixed=tok.value))
                k += 1
            elif tok.kind == "name" and tok.text == "NA":
                out.append(Modifiers(free=True))
                k += 1
            elif tok.kind in ("name", "string") and _is_identifier(str(tok.value or tok.text)):
                out.append(Modifiers(label=str(tok.value or tok.text)))
                k += 1
            else:
                raise self.error_at(
                    k,
                    "expected a label, a number or NA inside c(...), one per group, "
                    f"found {_describe(tok)}",
                )
            sep = self.tok(k)
            if sep.kind == ")":
                self.i = k + 1
                return tuple(out)
            if sep.kind != ",":
                raise self.error_at(k, f"expected ',' or ')' inside c(...), found {_describe(sep)}")
            k += 1

    def _set_modifier(
        self, mods: dict[str, Any], kind: str, value: float | str | bool, k: int
    ) -> None:
        if kind == "groups" and kind in mods:
            old = mods[kind]
            if len(old) != len(value):  # type: ignore[arg-type]
                raise self.error_at(
                    k, f"c(...) modifiers of one term give {len(old)} and {len(value)} values"
                )
            mods[kind] = tuple(
                _merge_group(a, b)
                for a, b in zip(old, value, strict=True)  # type: ignore[arg-type]
            )
            return
        if kind in mods:
            old = mods[kind]
            match kind:
                case "fixed":
                    what = f"the fixed value {old:g}; expected at most one fixed value"
                case "free":
                    what = "NA; expected at most one NA"
                case "start":
                    what = f"the start value {old:g}; expected at most one start()"
                case "label":
                    what = (
                        f"the label '{old}'; expected at most one label "
                        "(a name, label() or equal())"
                    )
                case _:
                    what = f"the prior '{old}'; expected at most one prior()"
            raise self.error_at(k, f"the term already has {what} per term")
        if kind == "free" and "fixed" in mods:
            raise self.error_at(
                k,
                f"conflicting modifiers: NA frees a parameter already fixed to "
                f"{mods['fixed']:g}; expected either a fixed value or NA, not both",
            )
        if kind == "fixed" and "free" in mods:
            raise self.error_at(
                k,
                f"conflicting modifiers: fixed value {value:g} for a parameter already freed "
                "with NA; expected either a fixed value or NA, not both",
            )
        mods[kind] = value

    # ---------------------------------------------------------------- := == < >

    def _defined(self, first: int, stop: int) -> list[Statement]:
        if first == 0:
            raise self.error_at(0, "expected a parameter name before ':='")
        name = self.toks[0]
        if name.kind != "name":
            raise self.error_at(
                0, f"expected a parameter name before ':=', found {_describe(name)}"
            )
        if first > 1:
            raise self.error_at(
                1,
                f"expected ':=' after the parameter name '{name.text}', "
                f"found {_describe(self.toks[1])}",
            )
        text, tree = self._expression(first + 1, stop, self.toks[first])
        if stop < len(self.chunk.tokens):
            raise self._second_operator(first, stop)
        return [Statement(name.text, ":=", (), text, name.line, name.col, tree)]

    def _constraint(self, first: int, stop: int) -> list[Statement]:
        op = self.toks[first]
        if first == 0:
            raise self.error_at(0, f"expected an expression before '{op.text}'")
        lhs, _ = self._expression(0, first, None)
        rhs, tree = self._expression(first + 1, stop, op)
        if stop < len(self.chunk.tokens):
            raise self._second_operator(first, stop)
        head = self.toks[0]
        return [Statement(lhs, op.text, (), rhs, head.line, head.col, tree)]

    def _expression(self, start: int, stop: int, after: _Token | None) -> tuple[str, Expr]:
        """Join tokens ``start:stop`` into expression text; parse it (the text and its tree)."""
        if start == stop:
            where = f"after '{after.text}'" if after is not None else "here"
            raise self.error_at(
                stop, f"expected an expression {where}, found {_describe(self.tok(stop))}"
            )
        segment = self.toks[start:stop]
        pieces: list[str] = []
        offsets: list[int] = []
        length = 0
        for j, tok in enumerate(segment):
            if j and not (segment[j - 1].line == tok.line and segment[j - 1].end_col == tok.col):
                pieces.append(" ")
                length += 1
            offsets.append(length)
            pieces.append(tok.text)
            length += len(tok.text)
        text = "".join(pieces)
        try:
            tree = parse_expression(text)
        except ExpressionError as err:
            offset = (err.col or 1) - 1
            for tok, begin in zip(segment, offsets, strict=True):
                if offset < begin + len(tok.text):
                    line, col = tok.line, tok.col + max(0, offset - begin)
                    break
            else:
                line, col = segment[-1].line, segment[-1].end_col
            raise self.src.error(f"invalid expression: {err.reason}", line, col) from err
        return text, tree


def _modifiers(mods: dict[str, Any]) -> Modifiers:
    return Modifiers(
        fixed=mods.get("fixed"),
        free=bool(mods.get("free", False)),
        start=mods.get("start"),
        label=mods.get("label"),
        prior=mods.get("prior"),
        groups=tuple(mods.get("groups", ())),
    )


def _merge_group(a: Modifiers, b: Modifiers) -> Modifiers:
    """One group's entries of two ``c(...)`` modifiers (``c(a1, a2)*c(NA, 1)*x``)."""
    return Modifiers(
        fixed=b.fixed if b.fixed is not None else a.fixed,
        free=a.free or b.free,
        label=b.label if b.label is not None else a.label,
    )


def parse_model(text: str, filename: str | None = None) -> tuple[Statement, ...]:
    """Parse lavaan model syntax into statements.

    Parameters
    ----------
    text : str
        The model, one statement per line or separated by ``;``, e.g.
        ``"visual =~ x1 + x2 + x3; textual =~ x4 + x5 + x6"``.
    filename : str or None, optional
        Shown in error messages (``"<model>"`` when ``None``).

    Returns
    -------
    tuple of Statement
        In order of appearance. ``y1 + y2 ~ x`` gives one statement per left-hand
        name; ``y ~ 1 + x`` gives a ``'~1'`` and a ``'~'`` statement.

    Raises
    ------
    ModelSyntaxError
        For any syntax error, with its file, line, column and what was expected;
        also for a model without statements and for the lavaan operators
        ``<~``, ``~*~``, ``|`` and ``%``, which bayes-bmi does not support yet.
    """
    src = _Source(tuple(line.rstrip("\r") for line in text.split("\n")), filename)
    chunks = _split(_tokenize(text, src))
    if not chunks:
        raise src.error(
            "the model has no statements; expected at least one statement such as "
            "'f =~ x1 + x2 + x3'",
            1,
            1,
        )
    statements: list[Statement] = []
    for index, chunk in enumerate(chunks):
        statements.extend(_StatementParser(src, chunk, index > 0).parse())
    return tuple(statements)
