"""Turning a conversation into the one string an instruct model was fine-tuned on: ChatML, read
from the Jinja chat template a GGUF file carries, rendered without Jinja.

Notes: ``packages/scratchseq/notes/13-a-pretrained-model.md`` (the pretrained model).

**What a chat template is.** An instruct model is a plain language model fine-tuned on
conversations written out with markers. SmolLM2 uses ChatML: every message is

    <|im_start|>{role}\\n{content}<|im_end|>\\n

and the model answers when the text ends with ``<|im_start|>assistant\\n`` (the *generation
prompt*); it then writes the answer and ``<|im_end|>``, which is where generation stops.
``<|im_start|>`` and ``<|im_end|>`` are single special tokens (ids 1 and 2 in SmolLM2), not
the characters they are spelled with.

**Where it is written down.** The file's ``tokenizer.chat_template`` is a Jinja program (the
language ``transformers``' ``apply_chat_template`` runs). SmolLM2's, in full::

    {% for message in messages %}
      {% if loop.first and messages[0]['role'] != 'system' %}
        {{ '<|im_start|>system\\nYou are a helpful AI assistant named SmolLM, trained by Hugging
             Face<|im_end|>\\n' }}
      {% endif %}
      {{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}
    {% endfor %}
    {% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}

(indented here; the file has it on one line). So: a default system message goes first when
the conversation does not open with its own (and only then: a conversation with no messages
gets none), then the messages in order, then the generation prompt if asked for.

**Why not run Jinja.** It would be one more runtime dependency for one loop and one ``if``.
``ChatMLTemplate.from_jinja`` instead *recognises* the template: it normalises the text
(whitespace outside strings dropped, string literals decoded as Jinja decodes them, adjacent
literals joined by ``+`` folded into one) and matches it against ChatML with and without a
default system message, taking the system text out of the template. Any other template is
refused with a ``ValueError``, never rendered approximately. A test checks the rendering
equal to Jinja's (``transformers``' ``apply_chat_template``) on several conversations.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

__all__ = ["IM_END", "IM_START", "ChatMLTemplate"]

IM_START, IM_END = "<|im_start|>", "<|im_end|>"

# A Jinja string literal, single- or double-quoted, with backslash escapes.
_STRING = re.compile(r"""'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*\"""", re.DOTALL)


def _normalise(template: str) -> str:
    """The template with whitespace outside string literals removed, every literal decoded as
    Jinja decodes it (Python escapes) and written back as a JSON string, and ``"a"+"b"``
    folded into ``"ab"``: two spellings of the same ChatML template become one string."""
    parts: list[str | tuple[str]] = []  # code as str, a literal's value as a 1-tuple
    at = 0
    for m in _STRING.finditer(template):
        parts.append(re.sub(r"\s+", "", template[at : m.start()]))
        # Jinja's lexer: value[1:-1].encode("ascii", "backslashreplace").decode("unicode-escape")
        body = m.group()[1:-1].encode("ascii", "backslashreplace").decode("unicode-escape")
        parts.append((body,))
        at = m.end()
    parts.append(re.sub(r"\s+", "", template[at:]))
    folded: list[str | tuple[str]] = []
    for part in parts:
        # literal, "+", literal -> one literal
        if isinstance(part, tuple) and len(folded) >= 2 and folded[-1] == "+":
            if isinstance(folded[-2], tuple):
                folded.pop()
                folded[-1] = (folded[-1][0] + part[0],)
                continue
        if part != "":
            folded.append(part)
    return "".join(p if isinstance(p, str) else json.dumps(p[0]) for p in folded)


def _pattern(with_system: bool) -> re.Pattern[str]:
    """ChatML as ``_normalise`` writes it; with ``with_system``, the default system message
    block, its text captured (JSON-escaped) as ``system``."""

    def lit(text: str) -> str:
        return re.escape(json.dumps(text))

    # The default system message is one literal, "<|im_start|>system\n" TEXT "<|im_end|>\n":
    # its opening quote and prefix, TEXT (still JSON-escaped), its suffix and closing quote.
    opening = re.escape(json.dumps(IM_START + "system\n")[:-1])
    closing = re.escape(json.dumps(IM_END + "\n")[1:])
    text = r'(?P<system>(?:[^"\\]|\\.)*)'  # characters other than " and \, or escapes
    system = (
        r"{%ifloop\.firstandmessages\[0\]\[" + lit("role") + r"\]!=" + lit("system") + r"%}"
        + "{{" + opening + text + closing + "}}{%endif%}"
    )  # fmt: skip
    message = (
        r"{{" + lit(IM_START) + r"\+message\[" + lit("role") + r"\]\+"
        + lit("\n") + r"\+message\[" + lit("content") + r"\]\+" + lit(IM_END + "\n") + r"}}"
    )  # fmt: skip
    prompt = r"{%ifadd_generation_prompt%}{{" + lit(IM_START + "assistant\n") + r"}}{%endif%}"
    body = (system if with_system else "") + message
    return re.compile(r"{%formessageinmessages%}" + body + r"{%endfor%}" + prompt)


@dataclass(frozen=True)
class ChatMLTemplate:
    """ChatML rendering: ``render(messages, add_generation_prompt)`` -> the prompt text.

    ``default_system`` is the system message put first when a conversation does not start with
    one (``None``: no default). Build it from a file's Jinja template with ``from_jinja``.
    """

    default_system: str | None = None

    @classmethod
    def from_jinja(cls, template: str | None) -> ChatMLTemplate:
        """Recognise ``template`` (a ``tokenizer.chat_template`` string) as ChatML, with or
        without a default system message, and return the renderer it describes. ``None`` or
        any other template raises a ``ValueError``."""
        op = "ChatMLTemplate.from_jinja"
        if not isinstance(template, str):
            raise ValueError(f"{op}: the file has no chat template (got {template!r})")
        text = _normalise(template)
        if m := _pattern(with_system=True).fullmatch(text):
            return cls(default_system=json.loads(f'"{m.group("system")}"'))
        if _pattern(with_system=False).fullmatch(text):
            return cls(default_system=None)
        raise ValueError(
            f"{op}: this chat template is not the ChatML this renderer knows (with or without a "
            f"default system message); render it with jinja2 instead: {template[:120]!r}..."
        )

    def render(
        self, messages: Iterable[dict[str, Any]], add_generation_prompt: bool = False
    ) -> str:
        """``messages`` (``{"role": str, "content": str}`` dicts, in order) -> the prompt text.

        With ``add_generation_prompt`` the text ends with ``<|im_start|>assistant\\n``, where
        the model's answer begins. A message without a string ``role`` and ``content`` raises
        a ``ValueError`` (Jinja would fail on it too, less clearly).
        """
        messages = list(messages)
        for i, message in enumerate(messages):
            if not isinstance(message, dict) or not all(
                isinstance(message.get(key), str) for key in ("role", "content")
            ):
                raise ValueError(
                    f"ChatMLTemplate.render: message {i} must be a dict with string 'role' and "
                    f"'content'; got {message!r}"
                )
        parts = []
        if messages and messages[0]["role"] != "system" and self.default_system is not None:
            parts.append(f"{IM_START}system\n{self.default_system}{IM_END}\n")
        parts += [f"{IM_START}{m['role']}\n{m['content']}{IM_END}\n" for m in messages]
        if add_generation_prompt:
            parts.append(f"{IM_START}assistant\n")
        return "".join(parts)
