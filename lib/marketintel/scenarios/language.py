"""Parse a scenario's text into statements (lark, LALR) and check what can be checked without the store.

:func:`parse` turns text into a :class:`ScenarioSpec` or raises :class:`ScenarioSyntaxError` at the first
place the text leaves the grammar; :func:`validate` lists every error of meaning (a second ``base``, a name
used but never declared with ``use``, a reversed date range, ...), each with its line and column.
"""

from __future__ import annotations

import datetime as dt
import difflib
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any, Literal

import numpy as np
from lark import Lark, Token, Tree
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from marketintel.scenarios.errors import ScenarioError, ScenarioSyntaxError

#: names a ``derive`` expression may use besides the assumptions: the base curve and the scenario curve
CURVE_REFERENCES = ("base", "scenario")
#: what a statement starts with
KEYWORDS = ("scenario", "base", "use", "shift", "requote", "derive")

Value = float | np.ndarray


# --------------------------------------------------------------------------------------------------------
# Expressions
# --------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Expr:
    """An arithmetic expression over numbers and names (assumptions, ``base``, ``scenario``, derived)."""

    def refs(self) -> list[Ref]:
        """Return the names the expression refers to, in order of appearance."""
        return []

    def evaluate(self, env: dict[str, Value]) -> Value:
        """Return the value with names taken from ``env`` (floats, or arrays aligned on the curve)."""
        raise NotImplementedError

    def text(self) -> str:
        """Return the expression written back as text."""
        raise NotImplementedError


@dataclass(frozen=True)
class Num(Expr):
    """A number."""

    value: float

    def evaluate(self, env: dict[str, Value]) -> Value:
        """See :meth:`Expr.evaluate`."""
        return self.value

    def text(self) -> str:
        """See :meth:`Expr.text`."""
        return f"{self.value:g}"


@dataclass(frozen=True)
class Ref(Expr):
    """A name, at its place in the text."""

    name: str
    line: int = 0
    column: int = 0

    def refs(self) -> list[Ref]:
        """See :meth:`Expr.refs`."""
        return [self]

    def evaluate(self, env: dict[str, Value]) -> Value:
        """See :meth:`Expr.evaluate`."""
        return env[self.name]

    def text(self) -> str:
        """See :meth:`Expr.text`."""
        return self.name


@dataclass(frozen=True)
class Neg(Expr):
    """``-x``."""

    operand: Expr

    def refs(self) -> list[Ref]:
        """See :meth:`Expr.refs`."""
        return self.operand.refs()

    def evaluate(self, env: dict[str, Value]) -> Value:
        """See :meth:`Expr.evaluate`."""
        return -self.operand.evaluate(env)

    def text(self) -> str:
        """See :meth:`Expr.text`."""
        return f"-{self.operand.text()}"


@dataclass(frozen=True)
class BinOp(Expr):
    """``left op right`` with ``op`` one of ``+ - * /``."""

    op: Literal["+", "-", "*", "/"]
    left: Expr
    right: Expr

    def refs(self) -> list[Ref]:
        """See :meth:`Expr.refs`."""
        return self.left.refs() + self.right.refs()

    def evaluate(self, env: dict[str, Value]) -> Value:
        """See :meth:`Expr.evaluate`."""
        a, b = self.left.evaluate(env), self.right.evaluate(env)
        if self.op == "+":
            return a + b
        if self.op == "-":
            return a - b
        if self.op == "*":
            return a * b
        return a / b

    def text(self) -> str:
        """See :meth:`Expr.text`."""
        return f"({self.left.text()} {self.op} {self.right.text()})"


# --------------------------------------------------------------------------------------------------------
# Statements
# --------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Statement:
    """Where a statement is in the text (1-based line and column)."""

    line: int
    column: int


@dataclass(frozen=True)
class ScenarioName(Statement):
    """``scenario "NAME"``."""

    name: str


@dataclass(frozen=True)
class BaseCurve(Statement):
    """``base curve NAME [as of DATE [version N]]``: a stored curve version.

    ``as of DATE`` picks the latest version of the latest build whose information cutoff is at or before the
    end of DATE in the curve's market time zone (the build current at the end of that trade date); without
    it, the latest build. ``version N`` picks that version of the chosen cutoff.
    """

    curve: str
    as_of: dt.date | None = None
    version: int | None = None
    curve_column: int = 0


@dataclass(frozen=True)
class BaseQuotes(Statement):
    """``base quotes "FILE" [options]``: build the base curve from a contracts CSV."""

    path: str
    granularity: Literal["daily", "hourly"] = "daily"
    weights: Literal["hours", "days"] | None = None
    calendar: str | None = None
    tz: str | None = None
    start: dt.date | None = None
    end: dt.date | None = None
    shape: str | None = None
    trade_date: dt.date | None = None
    curve_name: str | None = None
    calendar_column: int = 0


@dataclass(frozen=True)
class Use(Statement):
    """``use NAME[@N]``: assumption NAME, version N (default: the latest when the scenario runs)."""

    name: str
    version: int | None = None

    def label(self) -> str:
        """``name@N`` or ``name``."""
        return self.name if self.version is None else f"{self.name}@{self.version}"


@dataclass(frozen=True)
class Shift(Statement):
    """``shift START..END [on PROFILE] by AMOUNT``: the built curve over those delivery days.

    ``kind`` is ``"add"`` (``by +0.25``: plus the amount in the curve's unit), ``"percent"`` (``by +15%``:
    times 1 + amount/100) or ``"factor"`` (``by *1.15``: times the amount).
    """

    start: dt.date
    end: dt.date
    profile: str
    kind: Literal["add", "percent", "factor"]
    amount: Expr

    def describe(self) -> str:
        """Return the shift in words."""
        on = "" if self.profile == "base" else f" ({self.profile} hours)"
        amount = self.amount.text()
        if self.kind == "percent" and isinstance(self.amount, Num):
            return f"shift: curve on {self.start}..{self.end}{on} times {1 + self.amount.value / 100:g}"
        what = {
            "add": f"plus {amount}",
            "percent": f"times (1 + {amount}/100)",
            "factor": f"times {amount}",
        }[self.kind]
        return f"shift: curve on {self.start}..{self.end}{on} {what}"


@dataclass(frozen=True)
class Requote(Statement):
    """``requote CONTRACT = VALUE``: replace a quoted contract's price before the build."""

    contract: str
    value: Expr
    contract_column: int = 0


@dataclass(frozen=True)
class Derive(Statement):
    """``derive NAME = EXPR [in "UNIT"]``: a second output curve, pointwise from the formula."""

    name: str
    expr: Expr
    unit: str = ""


@dataclass(frozen=True)
class ScenarioSpec:
    """A parsed scenario: its statements in the order written.

    Attributes
    ----------
    name : str
        ``scenario "NAME"`` ('' when missing: :func:`validate` reports it).
    base : BaseCurve or BaseQuotes or None
        The first ``base`` statement.
    uses, shifts, requotes, derives : list
        The statements of each kind, in text order.
    statements : list of Statement
        Every statement, in text order.
    text : str
        The text parsed.
    """

    name: str
    base: BaseCurve | BaseQuotes | None
    uses: list[Use]
    shifts: list[Shift]
    requotes: list[Requote]
    derives: list[Derive]
    statements: list[Statement] = field(default_factory=list)
    text: str = ""

    def assumption(self, name: str) -> Use | None:
        """Return the ``use`` statement of ``name``, if any."""
        return next((u for u in self.uses if u.name == name), None)


def describe(statement: Statement) -> str:
    """Return ``line N: what the statement does``, in words a quant reads."""
    s = statement
    if isinstance(s, ScenarioName):
        what = f"scenario {s.name!r}"
    elif isinstance(s, BaseCurve):
        when = f" as of {s.as_of}" if s.as_of else " (latest build)"
        what = f"base: stored curve {s.curve}{when}" + (f" version {s.version}" if s.version else "")
    elif isinstance(s, BaseQuotes):
        opts = [s.granularity, f"weights {s.weights or 'by calendar'}"]
        opts += [f"calendar {s.calendar}"] if s.calendar else []
        opts += [f"tz {s.tz}"] if s.tz else []
        opts += [f"{s.start}..{s.end}"] if s.start else []
        what = f"base: build from quotes file {s.path} ({', '.join(opts)})"
    elif isinstance(s, Use):
        what = f"use assumption {s.name}" + (f" version {s.version}" if s.version else " (latest version)")
    elif isinstance(s, Shift):
        what = s.describe()
    elif isinstance(s, Requote):
        what = f"requote: {s.contract} = {s.value.text()}, then rebuild the curve"
    elif isinstance(s, Derive):
        what = f"derive: {s.name} = {s.expr.text()}" + (f" [{s.unit}]" if s.unit else "")
    else:  # pragma: no cover - every statement kind is listed above
        what = type(s).__name__
    return f"line {s.line}: {what}"


# --------------------------------------------------------------------------------------------------------
# Parsing
# --------------------------------------------------------------------------------------------------------
@lru_cache(maxsize=1)
def parser() -> Lark:
    """Return the LALR parser of ``grammar.lark`` (built once)."""
    grammar = resources.files("marketintel.scenarios").joinpath("grammar.lark").read_text(encoding="utf-8")
    return Lark(grammar, parser="lalr", propagate_positions=True, maybe_placeholders=True)


#: how an expected terminal is named in an error message
_TERMINAL_WORDS = {
    "DATE": "a date YYYY-MM-DD",
    "INT": "a whole number",
    "NUMBER": "a number",
    "NAME": "a name (letters, digits, _)",
    "CURVE": "a curve or calendar name",
    "CONTRACT": "a contract name (e.g. Q-2028-Q1, M-2026-01, Cal-2027)",
    "ZONE": "a time zone (e.g. America/New_York)",
    "STRING": 'a quoted text "..."',
    "GRANULARITY": "daily or hourly",
    "WEIGHTS": "hours or days",
    "_NL": "the end of the line",
    "$END": "the end of the text",
}


def _expected(names: set[str]) -> str:
    words = set()
    for name in names:
        if name in _TERMINAL_WORDS:
            words.add(_TERMINAL_WORDS[name])
            continue
        try:
            pattern = parser().get_terminal(name).pattern
        except KeyError:
            words.add(name.lower())
            continue
        words.add(f'"{pattern.value}"' if pattern.type == "str" else name.lower())
    ordered = sorted(words, key=lambda w: (w.startswith("the end"), w))
    return ordered[0] if len(ordered) == 1 else "one of " + ", ".join(ordered)


def _word_at(text: str, line: int, column: int) -> str:
    lines = text.splitlines()
    if not 1 <= line <= len(lines):
        return ""
    rest = lines[line - 1][column - 1 :]
    return rest.split()[0] if rest.split() else ""


def _syntax_error(exc: UnexpectedInput, text: str) -> ScenarioSyntaxError:
    line, column = int(exc.line), int(exc.column)
    if isinstance(exc, UnexpectedEOF):
        return ScenarioSyntaxError(
            f"the text ends early; expected {_expected(set(exc.expected))}", line, column
        )
    got = _word_at(text, line, column)
    if isinstance(exc, UnexpectedToken):
        expected = set(exc.expected)
        if exc.token.type == "_NL":
            return ScenarioSyntaxError(f"the line ends early; expected {_expected(expected)}", line, column)
    elif isinstance(exc, UnexpectedCharacters):
        expected = set(exc.allowed or ())
    else:  # pragma: no cover - lark raises only the three above
        return ScenarioSyntaxError(str(exc), line, column)
    starts = {k.upper() for k in KEYWORDS}
    if starts <= expected:  # at the start of a statement
        hint = difflib.get_close_matches(got.lower(), KEYWORDS, n=1)
        more = f" (did you mean {hint[0]!r}?)" if hint else ""
        return ScenarioSyntaxError(
            f"unknown statement {got!r}{more}; a line starts with one of: {', '.join(KEYWORDS)}", line, column
        )
    return ScenarioSyntaxError(f"unexpected {got!r}; expected {_expected(expected)}", line, column)


def parse(text: str) -> ScenarioSpec:
    """Parse a scenario's text.

    Parameters
    ----------
    text : str
        The scenario, one statement per line (grammar: :mod:`marketintel.scenarios`).

    Returns
    -------
    ScenarioSpec
        The statements; :func:`validate` then lists the errors of meaning.

    Raises
    ------
    ScenarioSyntaxError
        At the first place the text leaves the grammar, or an impossible value (date, version), with
        its line, column and what was expected.
    """
    try:
        tree = parser().parse(text if text.endswith("\n") else text + "\n")
    except UnexpectedInput as exc:
        raise _syntax_error(exc, text) from None
    statements = [_statement(child) for child in tree.children if isinstance(child, Tree)]
    names = [s for s in statements if isinstance(s, ScenarioName)]
    bases: list[BaseCurve | BaseQuotes] = [s for s in statements if isinstance(s, BaseCurve | BaseQuotes)]
    return ScenarioSpec(
        name=names[0].name if names else "",
        base=bases[0] if bases else None,
        uses=[s for s in statements if isinstance(s, Use)],
        shifts=[s for s in statements if isinstance(s, Shift)],
        requotes=[s for s in statements if isinstance(s, Requote)],
        derives=[s for s in statements if isinstance(s, Derive)],
        statements=statements,
        text=text,
    )


def _date(token: Token) -> dt.date:
    try:
        return dt.date.fromisoformat(str(token))
    except ValueError:
        raise ScenarioSyntaxError(
            f"{token} is not a date (YYYY-MM-DD)", token.line or 0, token.column or 0
        ) from None


def _int(token: Token, what: str) -> int:
    value = int(str(token))
    if value < 1:
        raise ScenarioSyntaxError(
            f"{what} must be 1 or more, got {value}", token.line or 0, token.column or 0
        )
    return value


def _string(token: Token) -> str:
    return str(token)[1:-1]


def _expr(node: Any) -> Expr:
    if isinstance(node, Token):  # pragma: no cover - the grammar wraps every token of an expression
        raise ScenarioSyntaxError(f"unexpected {node!s}", node.line or 0, node.column or 0)
    kind = node.data
    if kind == "number":
        return Num(float(str(node.children[0])))
    if kind == "ref":
        tok = node.children[0]
        return Ref(str(tok), tok.line or 0, tok.column or 0)
    if kind == "neg":
        return Neg(_expr(node.children[0]))
    ops = {"add": "+", "sub": "-", "mul": "*", "div": "/"}
    return BinOp(ops[str(kind)], _expr(node.children[0]), _expr(node.children[1]))  # type: ignore[arg-type]


def _statement(tree: Tree[Any]) -> Statement:
    line, column = tree.meta.line, tree.meta.column
    kids: list[Any] = list(tree.children)
    kind = tree.data
    if kind == "scenario_stmt":
        return ScenarioName(line, column, _string(kids[0]))
    if kind == "base_curve":
        curve, as_of, version = kids
        return BaseCurve(
            line,
            column,
            str(curve),
            _date(as_of) if as_of is not None else None,
            _int(version, "version") if version is not None else None,
            curve.column or 0,
        )
    if kind == "base_quotes":
        return _base_quotes(tree)
    if kind == "use_stmt":
        name, version = kids
        return Use(line, column, str(name), _int(version, "an assumption's version") if version else None)
    if kind == "shift_stmt":
        start, end, profile, amount = kids
        first, last = _date(start), _date(end)
        kinds: dict[str, Literal["add", "percent", "factor"]] = {
            "plus": "add",
            "percent": "percent",
            "factor": "factor",
        }
        return Shift(
            line,
            column,
            first,
            last,
            str(profile).lower() if profile is not None else "base",
            kinds[str(amount.data)],
            _expr(amount.children[0]),
        )
    if kind == "requote_stmt":
        contract, value = kids
        return Requote(line, column, str(contract), _expr(value), contract.column or 0)
    if kind == "derive_stmt":
        name, expr, unit = kids
        return Derive(line, column, str(name), _expr(expr), _string(unit) if unit is not None else "")
    raise ScenarioSyntaxError(f"unknown statement {kind}", line, column)  # pragma: no cover


def _base_quotes(tree: Tree[Any]) -> BaseQuotes:
    path: Any
    options: list[Any]
    path, *options = tree.children
    values: dict[str, Any] = {}
    seen: dict[str, int] = {}
    for option in options:
        if not isinstance(option, Tree):
            continue
        key = str(option.data)
        tok: Any = option.children[0]
        if key in seen:
            raise ScenarioSyntaxError(
                f"option {key!r} is given twice in this base statement", tok.line or 0, tok.column or 0
            )
        seen[key] = tok.column or 0
        if key == "granularity":
            values["granularity"] = str(tok)
        elif key == "weights":
            values["weights"] = str(tok)
        elif key == "calendar":
            values["calendar"] = str(tok)
            values["calendar_column"] = tok.column or 0
        elif key == "tz":
            values["tz"] = str(tok)
        elif key == "window":
            first_day: Any = option.children[0]
            last_day: Any = option.children[1]
            values["start"], values["end"] = _date(first_day), _date(last_day)
            if values["end"] < values["start"]:
                raise ScenarioSyntaxError(
                    f"the window ends ({values['end']}) before it starts ({values['start']})",
                    tok.line or 0,
                    tok.column or 0,
                )
        elif key == "shape":
            values["shape"] = _string(tok)
        elif key == "trade_date":
            values["trade_date"] = _date(tok)
        elif key == "named":
            values["curve_name"] = str(tok)
    return BaseQuotes(tree.meta.line, tree.meta.column, _string(path), **values)


# --------------------------------------------------------------------------------------------------------
# Checks of meaning (no store needed)
# --------------------------------------------------------------------------------------------------------
def validate(spec: ScenarioSpec) -> list[ScenarioError]:
    """Return every error of meaning in a parsed scenario, in text order (empty: it can be run).

    Checks: one ``scenario`` and one ``base``; a scenario name other than ``base``; ``use`` names once each
    and not ``base``/``scenario``; every name in an expression declared (``use``, or in ``derive`` also
    ``base``, ``scenario`` and earlier derived series); shift ranges in order; each contract requoted once;
    derived names unique.
    """
    errors: list[ScenarioError] = []
    names = [s for s in spec.statements if isinstance(s, ScenarioName)]
    bases: list[BaseCurve | BaseQuotes] = [
        s for s in spec.statements if isinstance(s, BaseCurve | BaseQuotes)
    ]
    if not names:
        errors.append(ScenarioError('the scenario has no name: start it with scenario "NAME"', 1, 1))
    for extra in names[1:]:
        errors.append(
            ScenarioError(
                f"a second scenario statement; the name is set on line {names[0].line}", extra.line, 1
            )
        )
    if names and (not names[0].name.strip() or names[0].name.strip().lower() == "base"):
        errors.append(
            ScenarioError(
                f"the scenario name {names[0].name!r} is not allowed ('base' is the base curve's)",
                names[0].line,
                names[0].column,
            )
        )
    if not bases:
        errors.append(
            ScenarioError(
                "the scenario has no base: add `base curve NAME as of YYYY-MM-DD` or "
                '`base quotes "FILE" ...`',
                1,
                1,
            )
        )
    for extra_base in bases[1:]:
        errors.append(
            ScenarioError(
                f"one base per scenario; the base is set on line {bases[0].line}", extra_base.line, 1
            )
        )
    declared: dict[str, Use] = {}
    for use in spec.uses:
        if use.name in CURVE_REFERENCES:
            errors.append(
                ScenarioError(f"{use.name!r} names a curve, not an assumption", use.line, use.column)
            )
        elif use.name in declared:
            errors.append(
                ScenarioError(
                    f"assumption {use.name!r} is used twice (first on line {declared[use.name].line})",
                    use.line,
                    use.column,
                )
            )
        else:
            declared[use.name] = use
    for shift in spec.shifts:
        if shift.end < shift.start:
            errors.append(
                ScenarioError(
                    f"the shift ends ({shift.end}) before it starts ({shift.start})", shift.line, shift.column
                )
            )
        errors += _undeclared(shift.amount, set(declared), "shift")
    requoted: dict[str, Requote] = {}
    for rq in spec.requotes:
        if rq.contract in requoted:
            errors.append(
                ScenarioError(
                    f"{rq.contract} is requoted twice (first on line {requoted[rq.contract].line})",
                    rq.line,
                    rq.contract_column,
                )
            )
        requoted[rq.contract] = rq
        errors += _undeclared(rq.value, set(declared), "requote")
    known = set(declared) | set(CURVE_REFERENCES)
    for derive in spec.derives:
        errors += _undeclared(derive.expr, known, "derive")
        if derive.name in known:
            errors.append(
                ScenarioError(
                    f"{derive.name!r} is taken (an assumption, a curve or an earlier derive)",
                    derive.line,
                    derive.column,
                )
            )
        known.add(derive.name)
    return sorted(errors, key=lambda e: (e.line, e.column))


def _undeclared(expr: Expr, known: set[str], where: str) -> list[ScenarioError]:
    from marketintel.scenarios.errors import UnknownNameError

    out: list[ScenarioError] = []
    for ref in expr.refs():
        if ref.name not in known:
            hint = (
                "declared with `use`"
                if where != "derive"
                else "usable here (`use`d, base, scenario, derived)"
            )
            out.append(UnknownNameError("name", ref.name, known, ref.line, ref.column, where=hint))
    return out
