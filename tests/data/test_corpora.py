"""The ChatterBot corpus: real multi-turn dialogs, offline, as alternating conversations."""

import pytest

from lab.data.corpora import languages, load_chatterbot, topics
from lab.data.sources import read_examples
from lab.errors import DataError


def test_the_chatterbot_corpus_loads_offline_as_alternating_conversations():
    assert {"english", "spanish"} <= set(languages())
    assert "conversations" in topics("english")
    dialogs = load_chatterbot("english/conversations")
    first = dialogs[0].conversation.turns
    assert [(t.role, t.content) for t in first[:2]] == [
        ("user", "Good morning, how are you?"),
        ("assistant", "I am doing well, how about you?"),
    ]
    assert all(len(d.conversation.turns) % 2 == 0 and d.conversation.turns[-1].role == "assistant" for d in dialogs)
    assert len(read_examples("chatterbot:spanish")) > 100
    with pytest.raises(DataError, match="no language 'klingon'"):
        load_chatterbot("klingon")
    with pytest.raises(DataError, match="no topic 'nothing' in english"):
        load_chatterbot("english/nothing")
