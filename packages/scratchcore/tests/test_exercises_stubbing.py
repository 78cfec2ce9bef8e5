"""Stubbing keeps everything but the bodies: checked on randomly generated modules.

Notes: the exercises runner, ``scratchcore.exercises.stubbing``.

Each case writes a small module with a random mix of what real code has — functions with and
without docstrings, decorators (``staticmethod``, ``classmethod``, ``property``, a custom one),
methods, nested classes, a function nested in a function, multi-line signatures with
annotations, one-line bodies, comments, non-ASCII text — stubs a random set of its functions,
and checks three things:

1. the stubbed module's AST equals the original's with exactly those bodies replaced by
   ``raise NotImplementedError(message)`` (docstrings kept);
2. the text outside the replaced regions is byte for byte the original;
3. calling a stubbed function raises NotImplementedError with the hint, and calling any other
   function still returns what it returned before.
"""

from __future__ import annotations

import ast
import random
from dataclasses import dataclass

import pytest

from scratchcore.exercises import stubbing

# --- generating a module ------------------------------------------------------------------------


@dataclass
class Def:
    """A generated function: its qualname, how to call it, and the value it returns."""

    qualname: str
    call: str  # an expression that calls it, evaluated in the module's namespace
    value: int


class ModuleWriter:
    def __init__(self, rng: random.Random):
        self.rng, self.lines, self.defs, self.counter = rng, [], [], 0

    def fresh(self, stem: str) -> tuple[str, int]:
        self.counter += 1
        return f"{stem}_{self.counter}", self.counter * 7 + self.rng.randrange(5)

    def body(self, indent: str, value: int, docstring: bool) -> list[str]:
        """A body of a few statements that returns ``value``, with optional docstring."""
        out = []
        if docstring:
            quote = self.rng.choice(['"""', "'''"])
            if self.rng.random() < 0.5:
                out.append(f"{indent}{quote}Return {value} — é, ∑, naïve.{quote}")
            else:
                out += [f"{indent}{quote}Return a number.", "", f"{indent}More: {value}.{quote}"]
        if self.rng.random() < 0.4:
            out += [f"{indent}# a comment that gives the answer away: {value}", ""]
        kind = self.rng.randrange(4)
        if kind == 0:
            out.append(f"{indent}return {value}")
        elif kind == 1:
            out += [f"{indent}total = 0", f"{indent}for i in range(3):", f"{indent}    total += i"]
            out.append(f"{indent}return total - 3 + {value}  # trailing comment")
        elif kind == 2:
            out += [f"{indent}text = 'ü' * 2", f"{indent}if len(text) == 2:"]
            out += [f"{indent}    return {value}", f"{indent}return -1"]
        else:
            out += [f"{indent}def helper(x):", f"{indent}    return x + 1", ""]
            out.append(f"{indent}return helper({value - 1})")
        return out

    def signature(self, indent: str, name: str, params: str) -> list[str]:
        if self.rng.random() < 0.3:  # a multi-line signature with annotations and a default
            extra = ", " if params else ""
            return [
                f"{indent}def {name}(",
                f"{indent}    {params}{extra}a: int = 1,",
                f"{indent}    # a comment inside the signature",
                f"{indent}) -> int:",
            ]
        return [f"{indent}def {name}({params}):"]

    def function(self, indent: str = "", prefix: str = "", call_prefix: str = "") -> None:
        name, value = self.fresh("f")
        if self.rng.random() < 0.2:  # a one-line body
            self.lines.append(f"{indent}def {name}(): return {value}")
        else:
            if self.rng.random() < 0.3:
                self.lines.append(f"{indent}@decorate")
            self.lines += self.signature(indent, name, "")
            self.lines += self.body(indent + "    ", value, self.rng.random() < 0.6)
        self.lines.append("")
        self.defs.append(Def(prefix + name, f"{call_prefix}{name}()", value))

    def outer_with_inner(self) -> None:
        outer, inner = self.fresh("outer")[0], self.fresh("inner")
        self.lines += [f"def {outer}():", '    """Return the inner function."""', ""]
        self.lines += [f"    def {inner[0]}():", *self.body("        ", inner[1], True)]
        self.lines += ["", f"    return {inner[0]}", ""]
        self.defs.append(Def(f"{outer}.{inner[0]}", f"{outer}()()", inner[1]))

    def klass(self, indent: str = "", prefix: str = "", access: str = "") -> None:
        name = self.fresh("C")[0]
        self.lines += [f"{indent}class {name}:", f'{indent}    """A class."""', ""]
        qual, inner = f"{prefix}{name}.", indent + "    "
        path = f"{access}{name}"
        for _ in range(self.rng.randrange(1, 4)):
            kind = self.rng.choice(["method", "static", "class", "property", "nested"])
            meth, value = self.fresh("m")
            if kind == "nested" and indent == "":
                self.klass(inner, qual, path + ".")
                continue
            if kind == "static":
                self.lines += [f"{inner}@staticmethod", *self.signature(inner, meth, "")]
                call = f"{path}.{meth}()"
            elif kind == "class":
                self.lines += [f"{inner}@classmethod", *self.signature(inner, meth, "cls")]
                call = f"{path}.{meth}()"
            elif kind == "property":
                self.lines += [f"{inner}@property", f"{inner}def {meth}(self):"]
                call = f"{path}().{meth}"
            else:
                self.lines += self.signature(inner, meth, "self")
                call = f"{path}().{meth}()"
            self.lines += [*self.body(inner + "    ", value, self.rng.random() < 0.6), ""]
            self.defs.append(Def(qual + meth, call, value))

    def module(self) -> str:
        self.lines += ['"""A generated module."""', "", "def decorate(fn):", "    return fn", ""]
        for _ in range(self.rng.randrange(2, 6)):
            choice = self.rng.random()
            if choice < 0.45:
                self.function()
            elif choice < 0.6:
                self.outer_with_inner()
            else:
                self.klass()
        return "\n".join(self.lines) + "\n"


# --- the expected result, built on the AST ------------------------------------------------------


def expected_dump(source: str, messages: dict[str, str]) -> str:
    """The original AST with the targeted bodies replaced by docstring + raise, as a dump."""
    tree = ast.parse(source)
    for qualname, message in messages.items():
        node = stubbing.find_definition(tree, qualname)
        doc = node.body[:1] if stubbing._docstring_node(node) is not None else []
        stub = ast.parse(f"raise NotImplementedError({message!r})").body
        node.body = doc + stub
    return ast.dump(tree)


@pytest.mark.parametrize("seed", range(80))
def test_random_modules_keep_all_but_the_bodies(seed):
    rng = random.Random(seed)
    writer = ModuleWriter(rng)
    source = writer.module()
    defs = writer.defs
    chosen = [d for d in defs if rng.random() < 0.5] or [defs[0]]
    messages = {d.qualname: f"hint for {d.qualname} — ∂" for d in chosen}

    stubbed = stubbing.stub_source(source, messages, comment="Exercise x: write this body.")
    assert stubbed.count("raise NotImplementedError") == len(messages)

    # 1. The AST: only the chosen bodies changed (comments are not in the AST).
    assert ast.dump(ast.parse(stubbed)) == expected_dump(source, messages)
    # 2. The text: the original's bytes outside the regions, the stub text inside, nothing else.
    regions = sorted(
        ((stubbing.body_region(source, q), q) for q in messages), key=lambda rq: rq[0].start
    )
    expected, cursor = [], 0
    for region, qualname in regions:
        expected.append(source[cursor : region.start])
        expected.append(
            stubbing.stub_text(messages[qualname], region.indent, "Exercise x: write this body.")
        )
        cursor = region.end
    expected.append(source[cursor:])
    assert stubbed == "".join(expected)
    comment_free = [r for r, _ in regions if r.indent is not None]
    assert all(source[r.start - 1] == "\n" for r in comment_free)  # whole lines were replaced
    # 3. Behaviour: stubs raise with their hint; everything else returns as before.
    namespace: dict = {}
    exec(compile(stubbed, f"<generated {seed}>", "exec"), namespace)
    for d in defs:  # (only innermost functions are generated as targets: none contains another)
        if d.qualname in messages:
            with pytest.raises(NotImplementedError) as raised:
                eval(d.call, namespace)
            assert str(raised.value) == messages[d.qualname]
        else:
            assert eval(d.call, namespace) == d.value


def test_the_region_takes_comments_above_the_code_and_keeps_a_trailing_one():
    source = (
        "def f(x):\n"
        '    """Doc."""\n'
        "    # the answer is x + 1\n"
        "\n"
        "    return x + 1  # trailing\n"
        "\n"
        "def g():\n"
        "    return 2\n"
    )
    out = stubbing.stub_source(source, {"f": "hint"}, comment="Exercise e: write it.")
    assert out == (
        "def f(x):\n"
        '    """Doc."""\n'
        "    # Exercise e: write it.\n"
        "    raise NotImplementedError('hint')  # trailing\n"
        "\n"
        "def g():\n"
        "    return 2\n"
    )


def test_pasting_the_region_back_restores_the_file():
    source = "class A:\n    @property\n    def v(self):\n        '''Doc.'''\n        return 3\n"
    stubbed = stubbing.stub_source(source, {"A.v": "hint"})
    restored = stubbing.replace_regions(stubbed, {"A.v": stubbing.region_text(source, "A.v")})
    assert restored == source


@pytest.mark.parametrize(
    "source, qualname, match",
    [
        ("def f():\n    return 1\n", "g", "no class or function 'g'"),
        ("class A:\n    pass\n", "A", "is a class"),
        ("def f():\n    '''Only a docstring.'''\n", "f", "only a docstring"),
        ("def f():\n    return 1\ndef f():\n    return 2\n", "f", "defined 2 times"),
        ("class A:\n    def m(self):\n        return 1\n", "A.n", "in A"),
    ],
)
def test_clear_errors(source, qualname, match):
    with pytest.raises(stubbing.StubError, match=match):
        stubbing.stub_source(source, {qualname: "hint"})


def test_overlapping_targets_are_refused():
    source = "def outer():\n    def inner():\n        return 1\n    return inner\n"
    with pytest.raises(stubbing.StubError, match="lies inside"):
        stubbing.stub_source(source, {"outer": "a", "outer.<locals>.inner": "b"})
