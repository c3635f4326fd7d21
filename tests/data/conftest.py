"""Chat templates the real-data tests render under: TRL's own, on SmolLM2's tokenizer."""

from pathlib import Path

import pytest
import trl

from tests.conftest import tokenizer_copy

TRL_TEMPLATES = Path(trl.__file__).parent / "chat_templates"


@pytest.fixture(scope="module")
def qwen3_training(tokenizer, tmp_path_factory):
    """SmolLM2's tokenizer under TRL's `qwen3_training` template: `{% generation %}` markers, tools, reasoning."""
    template = (TRL_TEMPLATES / "qwen3_training.jinja").read_text()
    return tokenizer_copy(tokenizer, tmp_path_factory.mktemp("q3t"), chat_template=template)


@pytest.fixture(scope="module")
def qwen3(tokenizer, tmp_path_factory):
    """TRL's `qwen3` template (inference): it strips the reasoning of answers before the last question."""
    template = (TRL_TEMPLATES / "qwen3.jinja").read_text()
    return tokenizer_copy(tokenizer, tmp_path_factory.mktemp("q3"), chat_template=template)
