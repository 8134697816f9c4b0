"""The right answers for the test models of :mod:`autograder.graders.zoo`, written out by hand from their
shapes (``init_kwargs``), so that a grader never relies on the code under test.

They live here, apart from the models' classes: those cross to a worker, where the submission's code can
reach everything its arguments hold (a method on the model would hand it the answer). The sandbox's
zygote imports the zoo, never this module.
"""

from __future__ import annotations

from autograder.graders import zoo


def expected_count(model: zoo.TiedLanguageModel | zoo.BufferedEncoder) -> int:
    """The parameters a count should find: each tensor once, no buffer."""
    if isinstance(model, zoo.TiedLanguageModel):
        v, h = model.init_kwargs["vocab_size"], model.init_kwargs["hidden_size"]
        return v * h + (h * h + h) + v
    size = model.init_kwargs["size"]
    return (size * size + size) + size * size


def expected_double_count(model: zoo.TiedLanguageModel) -> int:
    """What a count that adds the tied matrix twice finds."""
    v, h = model.init_kwargs["vocab_size"], model.init_kwargs["hidden_size"]
    return expected_count(model) + v * h


def buffer_count(model: zoo.BufferedEncoder) -> int:
    return model.init_kwargs["buffer_size"] + model.init_kwargs["size"]


def expected_trainable(model: zoo.PartlyFrozenClassifier) -> int:
    h, c = model.init_kwargs["hidden_size"], model.init_kwargs["num_classes"]
    return h * c + c


def expected_frozen(model: zoo.PartlyFrozenClassifier) -> int:
    v, h = model.init_kwargs["vocab_size"], model.init_kwargs["hidden_size"]
    return v * h + h * h + h


def expected_breakdown(model: zoo.SharedAcrossChildren | zoo.HeldByModelAndChild) -> dict[str, int]:
    """Parameters per top-level child in ``named_children()`` order, each under the first child holding
    it, and ``""`` for those only the model holds."""
    if isinstance(model, zoo.SharedAcrossChildren):
        v, h = model.init_kwargs["vocab_size"], model.init_kwargs["hidden_size"]
        return {
            "embed": v * h,
            "blocks": (h * 2 * h + 2 * h) + (2 * h * h + h),
            "activation": 0,
            "head": v,
            "": h + 3,
        }
    h = model.init_kwargs["hidden_size"]
    return {"norm": 2 * h, "proj": h * h + h, "": 3}


def shared_count(model: zoo.HeldByModelAndChild) -> int:
    """The parameter the model holds itself and its child ``norm`` holds too."""
    return model.init_kwargs["hidden_size"]
