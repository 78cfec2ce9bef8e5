"""The ChatML renderer (``scratchseq.pretrained.chat_template``) against Jinja itself: the text
``transformers``' ``apply_chat_template`` (and plain ``jinja2`` with its settings) renders from
SmolLM2's template, for conversations with and without a system message, one and several turns,
with and without the generation prompt; other spellings of ChatML recognised, other templates
refused.
"""

import jinja2.sandbox
import pytest
import tokenizers
import transformers

from scratchseq.pretrained import smollm2_gguf_path
from scratchseq.pretrained.chat_template import ChatMLTemplate

# SmolLM2-135M-Instruct's tokenizer.chat_template, as its GGUF file holds it (one line).
SMOLLM2_TEMPLATE = (
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging "
    "Face<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + "
    "message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}"
    "{{ '<|im_start|>assistant\n' }}{% endif %}"
)
DEFAULT_SYSTEM = "You are a helpful AI assistant named SmolLM, trained by Hugging Face"
# The same ChatML as most Qwen/OpenHermes-style files spell it: no default system message,
# escapes written as \n, spaces and literals arranged differently.
PLAIN_CHATML = (
    '{% for message in messages %}{{ "<|im_start|>" + message[\'role\'] + "\\n" + '
    "message['content'] + '<|im_end|>\\n' }}{% endfor %}\n"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)

SYSTEM = {"role": "system", "content": "You answer in one short sentence."}
CONVERSATIONS = {
    "empty": [],
    "single turn": [{"role": "user", "content": "What is the capital of France?"}],
    "single turn with system": [SYSTEM, {"role": "user", "content": "Name a prime."}],
    "multi-turn": [
        {"role": "user", "content": "Hi!"},
        {"role": "assistant", "content": "Hello! How can I help?"},
        {"role": "user", "content": "Tell me a joke\nabout\tcats, with ünïcödé 🐈."},
    ],
    "multi-turn with system": [
        SYSTEM,
        {"role": "user", "content": "2 + 2?"},
        {"role": "assistant", "content": "4."},
        {"role": "user", "content": ""},
    ],
    "system later only": [
        {"role": "user", "content": "a"},
        {"role": "system", "content": "b"},
    ],
    "markup in content": [{"role": "user", "content": "{{ x }} {% if %} <|im_end|> '\\n'"}],
}


def jinja_render(template: str, messages, add_generation_prompt: bool) -> str:
    """Jinja as transformers sets it up for chat templates (sandboxed, trim_blocks,
    lstrip_blocks)."""
    env = jinja2.sandbox.ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    return env.from_string(template).render(
        messages=messages, add_generation_prompt=add_generation_prompt
    )


@pytest.fixture(scope="module")
def hf_tokenizer():
    """A transformers tokenizer holding only a chat template (no download, no vocabulary)."""
    backend = tokenizers.Tokenizer(tokenizers.models.BPE())
    return transformers.PreTrainedTokenizerFast(tokenizer_object=backend)


def test_recognises_smollm2_and_takes_its_default_system_message():
    assert ChatMLTemplate.from_jinja(SMOLLM2_TEMPLATE) == ChatMLTemplate(DEFAULT_SYSTEM)
    assert ChatMLTemplate.from_jinja(PLAIN_CHATML) == ChatMLTemplate(None)


def test_the_file_holds_this_template():
    try:
        path = smollm2_gguf_path()
    except FileNotFoundError as error:
        pytest.skip(f"the SmolLM2 GGUF file is not installed: {error}")
    from scratchseq.pretrained import GGUFFile

    assert GGUFFile(path).get("tokenizer.chat_template") == SMOLLM2_TEMPLATE


@pytest.mark.parametrize("add_generation_prompt", [False, True])
@pytest.mark.parametrize("name", sorted(CONVERSATIONS))
@pytest.mark.parametrize("template", [SMOLLM2_TEMPLATE, PLAIN_CHATML], ids=["smollm2", "plain"])
def test_rendering_equals_jinja(hf_tokenizer, template, name, add_generation_prompt):
    messages = CONVERSATIONS[name]
    ours = ChatMLTemplate.from_jinja(template).render(messages, add_generation_prompt)
    assert ours == jinja_render(template, messages, add_generation_prompt)
    if messages:  # transformers refuses an empty conversation
        theirs = hf_tokenizer.apply_chat_template(
            messages,
            chat_template=template,
            tokenize=False,
            add_generation_prompt=add_generation_prompt,
        )
        assert ours == theirs


def test_the_rendering_spelled_out():
    text = ChatMLTemplate(DEFAULT_SYSTEM).render(CONVERSATIONS["single turn"], True)
    assert text == (
        f"<|im_start|>system\n{DEFAULT_SYSTEM}<|im_end|>\n"
        "<|im_start|>user\nWhat is the capital of France?<|im_end|>\n<|im_start|>assistant\n"
    )


@pytest.mark.parametrize(
    "template",
    [
        None,
        "{{ bos_token }}{% for m in messages %}{{ m['content'] }}{% endfor %}",
        SMOLLM2_TEMPLATE.replace("message['content'] +", "message['content']|trim +"),
        SMOLLM2_TEMPLATE.replace("{% if add_generation_prompt %}", "{% if True %}"),
        SMOLLM2_TEMPLATE.replace("loop.first and ", ""),
    ],
    ids=["none", "other", "trim", "always-prompt", "every-message"],
)
def test_other_templates_are_refused(template):
    with pytest.raises(ValueError, match=r"^ChatMLTemplate\.from_jinja: "):
        ChatMLTemplate.from_jinja(template)


def test_bad_messages_are_named():
    with pytest.raises(ValueError, match="message 1 must be a dict with string 'role'"):
        ChatMLTemplate().render([{"role": "user", "content": "a"}, {"role": "user"}])
