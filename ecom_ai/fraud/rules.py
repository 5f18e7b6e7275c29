"""The fraud rule condition language: a small, safe expression language over named features.

Conditions are parsed with Python's ``ast`` module (``mode="eval"``) and then checked
against a strict whitelist of node types; they are evaluated by walking the tree here,
never with ``eval``/``exec``/``compile``. What is allowed::

    amount > 500 and ip_country != shipping_country
    orders_ip_24h >= 3 or accounts_on_device > 2
    not first_order and channel in ("app", "web")
    amount > 5 * amount_vs_user_mean            # + - * / between numbers
    email_domain in ["mailinator.com", "yopmail.com"]
    ip_country == ""                            # missing values are "" / 0 in features

* names: the feature names of ``ecom_ai.fraud.feature_names.FEATURE_NAMES`` and the shop's
  declared ``FRAUD_EXTRA_FEATURES`` (not those declared report only) only;
* literals: numbers, strings, ``True``/``False``/``None`` and lists/tuples of literals;
* operators: ``and or not``, ``== != < <= > >=``, ``in`` / ``not in``, ``+ - * /``, unary ``-``.

Anything else (calls, attributes, subscripts, lambdas, comprehensions, f-strings,
unknown names...) is rejected with a message that says what and where. A comparison
between values of incompatible types (``"a" < 3``) is simply false, and division by zero
gives ``None``, so a rule can never raise while scoring an order.
"""

from __future__ import annotations

import ast
import operator
from dataclasses import dataclass

from django.core.signals import setting_changed

from ecom_ai.fraud.feature_names import FEATURE_NAMES

MAX_CONDITION_LENGTH = 1000
MAX_DEPTH = 20
MAX_NODES = 200


class ConditionError(ValueError):
    """A condition that is not valid in the rule language (message is for the admin)."""


_COMPARE = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
}
_ARITH = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv}
_OP_NAMES = {
    ast.Pow: "**",
    ast.Mod: "%",
    ast.FloorDiv: "//",
    ast.MatMult: "@",
    ast.LShift: "<<",
    ast.RShift: ">>",
    ast.BitOr: "|",
    ast.BitAnd: "&",
    ast.BitXor: "^",
    ast.Is: "is",
    ast.IsNot: "is not",
    ast.Invert: "~",
    ast.UAdd: "unary +",
}
_NODE_NAMES = {
    ast.Call: "function calls",
    ast.Attribute: "attribute access (.)",
    ast.Subscript: "indexing ([])",
    ast.Lambda: "lambda",
    ast.ListComp: "comprehensions",
    ast.SetComp: "comprehensions",
    ast.DictComp: "comprehensions",
    ast.GeneratorExp: "comprehensions",
    ast.JoinedStr: "f-strings",
    ast.IfExp: "if/else expressions",
    ast.NamedExpr: "assignment (:=)",
    ast.Dict: "dicts",
    ast.Set: "sets",
    ast.Starred: "*",
    ast.Await: "await",
    ast.Yield: "yield",
}


def _known_features() -> frozenset[str]:
    from ecom_ai.fraud.extras import feature_attributes

    return frozenset(FEATURE_NAMES) | {attribute.name for attribute in feature_attributes()}


def _unknown_name_message(name: str, known, where: str) -> str:
    from ecom_ai.fraud.extras import report_only_attributes

    if any(attribute.name == name for attribute in report_only_attributes()):
        return (
            f"{name!r}{where} is declared report only in FRAUD_EXTRA_FEATURES: it is shown in the fairness "
            "report and is never a feature, so rules cannot use it."
        )
    return f"Unknown feature {name!r}{where}.{_suggest(name, known)}"


def _where(node) -> str:
    col = getattr(node, "col_offset", None)
    return f" at column {col + 1}" if col is not None else ""


@dataclass(frozen=True)
class Condition:
    """A validated condition: ``evaluate(features)`` → bool."""

    source: str
    tree: ast.Expression
    names: frozenset

    def evaluate(self, features: dict) -> bool:
        try:
            return bool(_eval(self.tree.body, features))
        except Exception:  # defensive: the whitelist makes this unreachable in practice
            return False


def parse_condition(source: str, *, known: frozenset[str] | None = None) -> Condition:
    """Parse and validate ``source``; raise ``ConditionError`` with a readable message."""
    if not isinstance(source, str):
        raise ConditionError("The condition must be text.")
    text = source.strip()
    if not text:
        raise ConditionError("The condition is empty.")
    if len(text) > MAX_CONDITION_LENGTH:
        raise ConditionError(f"The condition is too long ({len(text)} characters, at most {MAX_CONDITION_LENGTH}).")
    if "\n" in text or "\r" in text:
        text = " ".join(text.split())
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as exc:
        col = f" at column {exc.offset}" if exc.offset else ""
        raise ConditionError(f"Syntax error{col}: {exc.msg}.") from None
    except (ValueError, MemoryError, RecursionError) as exc:
        raise ConditionError(f"Cannot read the condition: {exc}.") from None
    known = _known_features() if known is None else known
    names: set[str] = set()
    count = [0]
    _check(tree.body, known, names, depth=0, count=count)
    return Condition(source=text, tree=tree, names=frozenset(names))


def _check(node, known, names, *, depth: int, count: list) -> None:
    count[0] += 1
    if depth > MAX_DEPTH:
        raise ConditionError(f"The condition is nested too deeply (more than {MAX_DEPTH} levels).")
    if count[0] > MAX_NODES:
        raise ConditionError(f"The condition is too complex (more than {MAX_NODES} parts).")
    sub = dict(known=known, names=names, depth=depth + 1, count=count)
    if isinstance(node, ast.BoolOp):
        for value in node.values:
            _check(value, **sub)
    elif isinstance(node, ast.UnaryOp):
        if not isinstance(node.op, (ast.Not, ast.USub)):
            raise ConditionError(
                f"Operator {_OP_NAMES.get(type(node.op), type(node.op).__name__)} is not allowed{_where(node)}."
            )
        _check(node.operand, **sub)
    elif isinstance(node, ast.BinOp):
        if type(node.op) not in _ARITH:
            raise ConditionError(
                f"Operator {_OP_NAMES.get(type(node.op), type(node.op).__name__)} is not allowed{_where(node)}; use + - * /."
            )
        _check(node.left, **sub)
        _check(node.right, **sub)
    elif isinstance(node, ast.Compare):
        _check(node.left, **sub)
        for op, right in zip(node.ops, node.comparators):
            if isinstance(op, (ast.In, ast.NotIn)):
                if not isinstance(right, (ast.List, ast.Tuple)):
                    raise ConditionError(f'\'in\' needs a list of values like ("a", "b"){_where(right)}.')
            elif type(op) not in _COMPARE:
                raise ConditionError(
                    f"Operator {_OP_NAMES.get(type(op), type(op).__name__)} is not allowed{_where(node)}; use == or !=."
                )
            _check(right, **sub)
    elif isinstance(node, (ast.List, ast.Tuple)):
        if len(node.elts) > 100:
            raise ConditionError("A list may hold at most 100 values.")
        for elt in node.elts:
            if not isinstance(elt, ast.Constant) and not (
                isinstance(elt, ast.UnaryOp) and isinstance(elt.op, ast.USub) and isinstance(elt.operand, ast.Constant)
            ):
                raise ConditionError(f"Lists may only hold literal values{_where(elt)}.")
            _check(elt, **sub)
    elif isinstance(node, ast.Constant):
        if not (node.value is None or isinstance(node.value, (bool, int, float, str))):
            raise ConditionError(f"Literal {node.value!r} is not allowed{_where(node)}.")
        if isinstance(node.value, str) and len(node.value) > 200:
            raise ConditionError("Text values may be at most 200 characters.")
    elif isinstance(node, ast.Name):
        if node.id not in known:
            raise ConditionError(_unknown_name_message(node.id, known, _where(node)))
        names.add(node.id)
    else:
        what = _NODE_NAMES.get(type(node), type(node).__name__)
        raise ConditionError(f"{what[0].upper() + what[1:]} not allowed{_where(node)}.")


def _suggest(name: str, known) -> str:
    import difflib

    close = difflib.get_close_matches(name, sorted(known), n=3)
    return f" Did you mean {', '.join(close)}?" if close else " See docs/fraud.md for the feature names."


def _eval(node, features: dict):
    if isinstance(node, ast.BoolOp):
        if isinstance(node.op, ast.And):
            return all(bool(_eval(v, features)) for v in node.values)
        return any(bool(_eval(v, features)) for v in node.values)
    if isinstance(node, ast.UnaryOp):
        value = _eval(node.operand, features)
        if isinstance(node.op, ast.Not):
            return not value
        return -value if _is_number(value) else None
    if isinstance(node, ast.BinOp):
        left, right = _eval(node.left, features), _eval(node.right, features)
        if not (_is_number(left) and _is_number(right)):
            return None
        if isinstance(node.op, ast.Div) and right == 0:
            return None
        return _ARITH[type(node.op)](left, right)
    if isinstance(node, ast.Compare):
        left = _eval(node.left, features)
        for op, right_node in zip(node.ops, node.comparators):
            right = _eval(right_node, features)
            if isinstance(op, (ast.In, ast.NotIn)):
                result = left in right
                result = result if isinstance(op, ast.In) else not result
            else:
                if isinstance(op, (ast.Lt, ast.LtE, ast.Gt, ast.GtE)) and not _comparable(left, right):
                    return False
                result = _COMPARE[type(op)](left, right)
            if not result:
                return False
            left = right
        return True
    if isinstance(node, (ast.List, ast.Tuple)):
        return tuple(_eval(e, features) for e in node.elts)
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Name):
        return features.get(node.id)
    raise ConditionError(f"unsupported node {type(node).__name__}")  # unreachable after _check


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) or isinstance(value, bool)


def _comparable(a, b) -> bool:
    if a is None or b is None:
        return False
    return (_is_number(a) and _is_number(b)) or (isinstance(a, str) and isinstance(b, str))


@dataclass
class FiredRule:
    id: int | None
    name: str
    action: str
    priority: int


def evaluate_rules(rules, features: dict) -> list[FiredRule]:
    """The rules (FraudRule rows, in priority order) whose condition holds for ``features``.

    A rule whose stored condition no longer parses (e.g. a feature was renamed) is skipped.
    """
    fired = []
    for rule in rules:
        try:
            condition = _cached_parse(rule.condition)
        except ConditionError:
            continue
        if condition.evaluate(features):
            fired.append(FiredRule(id=rule.pk, name=rule.name, action=rule.action, priority=rule.priority))
    return fired


_PARSE_CACHE: dict[str, Condition] = {}


def _clear_parse_cache(*, setting, **kwargs):
    if setting == "ECOM_AI":  # the declared extra features may have changed
        _PARSE_CACHE.clear()


setting_changed.connect(_clear_parse_cache)


def _cached_parse(source: str) -> Condition:
    cond = _PARSE_CACHE.get(source)
    if cond is None:
        cond = parse_condition(source)
        if len(_PARSE_CACHE) > 1000:
            _PARSE_CACHE.clear()
        _PARSE_CACHE[source] = cond
    return cond
