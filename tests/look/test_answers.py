"""Answers compared with the reference and with the run's training answers (seed 000's "hola" for "day")."""

from lab.data import load_sample
from lab.look.answers import check_answer, plain_answer

SPECIALS = ["<|im_start|>", "<|im_end|>"]


def test_special_tokens_end_the_answer_and_are_not_part_of_it():
    assert plain_answer(" día<|im_end|>\n### Human:", SPECIALS) == "día"
    assert plain_answer("<|im_start|> hola<|im_end|><|im_end|>", SPECIALS) == "hola"
    assert plain_answer("<|im_end|>", SPECIALS) == ""


def test_the_reference_answer_is_right_whatever_its_case_and_punctuation():
    check = check_answer(" Día.<|im_end|>", "día", load_sample("spanish"), SPECIALS)
    assert (check.said, check.correct, check.repeats) == ("Día.", True, None)
    assert check.sentence == "“Día.” is the reference answer."


def test_a_training_answer_said_again_is_named():
    check = check_answer(" hola<|im_end|>", "día", load_sample("spanish"), SPECIALS)
    assert (check.correct, check.repeats) == (False, 2)
    assert check.sentence == (
        '“hola” is the answer of training example #2 (How do you say "hello" in Spanish?): '
        "said again, not learned for this question."
    )


def test_an_other_answer_is_only_wrong():
    check = check_answer(" sol<|im_end|>", "día", load_sample("spanish"), SPECIALS)
    assert (check.correct, check.repeats) == (False, None)
    assert check.sentence == "“sol” is not the reference answer “día”."
    assert check_answer("hola", None, load_sample("spanish")).correct is None
