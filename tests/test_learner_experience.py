"""What a learner sees from ``pytest exercises``, run in a subprocess on copies of the learner bundle.

The implementations below are written for this test, independently of ``solutions/`` and in another
style (state-dict surgery instead of deep copies, one uniform draw split three ways instead of chained
Bernoulli draws, ...): the visible checks must accept any correct implementation, not just ours.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
import traceback
import venv
from importlib import import_module
from pathlib import Path

import pytest

from autograder.manifest import EXERCISES, REPO_ROOT
from autograder.release import BUNDLE_TEMPLATES_DIR, build_bundle
from solutions.support.checking import is_untouched_stub, raise_if_not_started

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

CONSTRAINTS = REPO_ROOT / ".ci" / "constraints.txt"

LEARNER_IMPLEMENTATIONS = {
    "ex1_softmax.py": '''
        """ex1, written by a learner."""

        from __future__ import annotations

        import math

        import torch
        from torch import Tensor


        def softmax_with_temperature(logits: Tensor, temperature: float = 1.0, dim: int = -1) -> Tensor:
            """Softmax of logits / temperature along dim."""
            try:
                t = float(temperature)
            except (TypeError, ValueError):
                t = math.nan
            if isinstance(temperature, bool) or not math.isfinite(t) or t <= 0:
                raise ValueError(f"temperature must be a positive finite number, got {temperature!r}")
            scaled = logits / t
            shifted = scaled - scaled.amax(dim=dim, keepdim=True).detach()
            weights = torch.exp(shifted)
            return weights / weights.sum(dim=dim, keepdim=True)
    ''',
    "ex2_distillation.py": '''
        """ex2, written by a learner."""

        from __future__ import annotations

        import math

        import torch
        from torch import Tensor


        def _temperature(value: float) -> float:
            t = float(value)
            if isinstance(value, bool) or not math.isfinite(t) or t <= 0:
                raise ValueError(f"temperature must be a positive finite number, got {value!r}")
            return t


        def distillation_loss(
            student_logits: Tensor,
            teacher_logits: Tensor,
            temperature: float = 2.0,
            mask: Tensor | None = None,
        ) -> Tensor:
            """T**2 times the mean KL(teacher || student) over positions, at temperature T."""
            t = _temperature(temperature)
            if student_logits.shape != teacher_logits.shape:
                raise ValueError(
                    f"student_logits has shape {tuple(student_logits.shape)} but teacher_logits has shape "
                    f"{tuple(teacher_logits.shape)}"
                )
            classes = student_logits.shape[-1]
            log_student = torch.log_softmax(student_logits / t, dim=-1).reshape(-1, classes)
            log_teacher = torch.log_softmax(teacher_logits.detach() / t, dim=-1).reshape(-1, classes)
            per_position = (log_teacher.exp() * (log_teacher - log_student)).sum(dim=-1)
            if mask is None:
                keep = torch.ones_like(per_position, dtype=torch.bool)
            else:
                keep = mask.reshape(-1).to(device=per_position.device, dtype=torch.bool)
            kept = per_position[keep]
            return kept.sum() / max(int(keep.sum()), 1) * (t * t)


        def student_loss(
            student_logits: Tensor,
            teacher_logits: Tensor,
            labels: Tensor,
            temperature: float = 2.0,
            alpha: float = 0.5,
            mask: Tensor | None = None,
        ) -> Tensor:
            """alpha * soft loss + (1 - alpha) * cross-entropy with the labels (-100 ignored)."""
            soft = distillation_loss(student_logits, teacher_logits, temperature, mask)
            classes = student_logits.shape[-1]
            flat_labels = labels.reshape(-1)
            valid = flat_labels != -100
            log_probs = torch.log_softmax(student_logits.reshape(-1, classes), dim=-1)
            picked = log_probs[valid].gather(1, flat_labels[valid].unsqueeze(1)).squeeze(1)
            hard = -picked.sum() / max(int(valid.sum()), 1)
            return alpha * soft + (1 - alpha) * hard
    ''',
    "ex3_layers.py": '''
        """ex3, written by a learner."""

        from __future__ import annotations

        import copy
        import re
        from collections.abc import Sequence

        from torch import nn

        _LAYER_KEY = re.compile(r"encoder\\.layer\\.(\\d+)\\.")


        def student_layer_indices(num_teacher_layers: int) -> list[int]:
            """Every other layer index, starting with 0."""
            if num_teacher_layers < 1:
                raise ValueError(f"need at least one teacher layer, got {num_teacher_layers}")
            return [index for index in range(num_teacher_layers) if index % 2 == 0]


        def halve_layers(teacher: nn.Module, layers: Sequence[int] | None = None) -> nn.Module:
            """A new model of the teacher's class with the chosen teacher layers, weights copied."""
            body = teacher.bert if hasattr(teacher, "bert") else teacher
            count = len(body.encoder.layer)
            chosen = student_layer_indices(count) if layers is None else [int(i) for i in layers]
            if not chosen:
                raise ValueError("layers is empty")
            wrong = [i for i in chosen if not 0 <= i < count]
            if wrong:
                raise ValueError(f"layers {wrong} out of range for a teacher with {count} layers")
            config = copy.deepcopy(teacher.config)
            config.num_hidden_layers = len(chosen)
            student = type(teacher)(config)
            source = teacher.state_dict()
            wanted = {}
            for key in student.state_dict():
                teacher_key = _LAYER_KEY.sub(lambda m: f"encoder.layer.{chosen[int(m.group(1))]}.", key)
                wanted[key] = source[teacher_key].detach().clone()
            student.load_state_dict(wanted)
            reference = next(teacher.parameters())
            student.to(dtype=reference.dtype, device=reference.device)
            student.train(teacher.training)
            return student
    ''',
    "ex4_masking.py": '''
        """ex4, written by a learner."""

        from __future__ import annotations

        from collections.abc import Iterable

        import torch
        from torch import Tensor


        class DynamicMasker:
            """A fresh BERT-style mask on every call."""

            def __init__(
                self,
                vocab_size: int,
                mask_token_id: int,
                special_token_ids: Iterable[int],
                mlm_probability: float = 0.15,
                mask_replace_prob: float = 0.8,
                random_replace_prob: float = 0.1,
            ):
                for name, value in (
                    ("mlm_probability", mlm_probability),
                    ("mask_replace_prob", mask_replace_prob),
                    ("random_replace_prob", random_replace_prob),
                ):
                    if not 0.0 <= value <= 1.0:
                        raise ValueError(f"{name} must lie in [0, 1], got {value}")
                if mask_replace_prob + random_replace_prob > 1.0:
                    raise ValueError("mask_replace_prob + random_replace_prob must not exceed 1")
                self.vocab_size = vocab_size
                self.mask_token_id = mask_token_id
                self.never_masked = sorted({int(i) for i in special_token_ids} | {int(mask_token_id)})
                self.mlm_probability = mlm_probability
                self.mask_replace_prob = mask_replace_prob
                self.random_replace_prob = random_replace_prob

            def __call__(
                self, input_ids: Tensor, generator: torch.Generator | None = None
            ) -> tuple[Tensor, Tensor]:
                protected = torch.isin(input_ids, torch.tensor(self.never_masked, dtype=input_ids.dtype))
                drawn = torch.rand(input_ids.shape, generator=generator)
                chosen = (drawn < self.mlm_probability) & ~protected
                fate = torch.rand(input_ids.shape, generator=generator)
                to_mask = chosen & (fate < self.mask_replace_prob)
                to_random = chosen & ~to_mask & (fate < self.mask_replace_prob + self.random_replace_prob)
                random_ids = torch.randint(
                    self.vocab_size, input_ids.shape, generator=generator, dtype=input_ids.dtype
                )
                masked = torch.where(to_mask, torch.full_like(input_ids, self.mask_token_id), input_ids)
                masked = torch.where(to_random, random_ids, masked)
                labels = torch.where(chosen, input_ids, torch.full_like(input_ids, -100))
                return masked, labels
    ''',
    "ex5_params.py": '''
        """ex5, written by a learner."""

        from __future__ import annotations

        from torch import nn


        def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
            """Elements of every distinct parameter."""
            distinct = {}
            for _, parameter in model.named_parameters(remove_duplicate=False):
                distinct.setdefault(id(parameter), parameter)
            return sum(p.numel() for p in distinct.values() if p.requires_grad or not trainable_only)


        def parameter_breakdown(model: nn.Module) -> dict[str, int]:
            """Parameters per top-level child; shared ones under the first holder; own ones under ''."""
            counted: set[int] = set()
            result: dict[str, int] = {}
            groups = [("", [p for p in model._parameters.values() if p is not None])]
            groups += [(name, list(child.parameters())) for name, child in model.named_children()]
            for name, parameters in groups:
                total = 0
                for parameter in parameters:
                    if id(parameter) not in counted:
                        counted.add(id(parameter))
                        total += parameter.numel()
                if name or parameters:
                    result[name] = total
            return result


        def bert_parameter_count(config) -> int:
            """Parameters of BertModel(config), from the configuration alone."""
            hidden = config.hidden_size
            inner = config.intermediate_size

            def linear(n_in: int, n_out: int) -> int:
                return n_in * n_out + n_out

            layer_norm = 2 * hidden
            rows = config.vocab_size + config.max_position_embeddings + config.type_vocab_size
            embeddings = rows * hidden + layer_norm
            attention = 4 * linear(hidden, hidden) + layer_norm
            feed_forward = linear(hidden, inner) + linear(inner, hidden) + layer_norm
            pooler = linear(hidden, hidden) if getattr(config, "use_pooler", True) else 0
            return embeddings + config.num_hidden_layers * (attention + feed_forward) + pooler
    ''',
}

FORGOT_TEMPERATURE_SQUARED = (
    "return kept.sum() / max(int(keep.sum()), 1) * (t * t)",
    "return kept.sum() / max(int(keep.sum()), 1)",
)

STILL_STUBBED_EX5 = """
        def parameter_breakdown(model: nn.Module) -> dict[str, int]:
            raise NotImplementedError("ex5: implement parameter_breakdown")


        def bert_parameter_count(config) -> int:
            raise NotImplementedError("ex5: implement bert_parameter_count")
"""


def learner_env() -> dict[str, str]:
    """The learner's environment: nothing of the repository on the path."""
    return {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}


@pytest.fixture
def bundle(tmp_path: Path) -> Path:
    return build_bundle(tmp_path / "course")


def write_implementation(bundle: Path, filename: str, source: str | None = None) -> None:
    text = textwrap.dedent(source if source is not None else LEARNER_IMPLEMENTATIONS[filename]).lstrip()
    (bundle / "exercises" / filename).write_text(text, encoding="utf-8")


def run_checks(bundle: Path, *args: str) -> tuple[int, str]:
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "exercises", *args],
        check=False,
        cwd=bundle,
        env=learner_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    return result.returncode, result.stdout + result.stderr


def progress_lines(output: str) -> dict[str, str]:
    """``{"ex1": "done", "ex2": "not started  -> open exercises/ex2_distillation.py", ...}``."""
    section = output.split("your progress", 1)[1]
    lines = {}
    for exercise in EXERCISES:
        match = re.search(rf"^{exercise.id}  {re.escape(exercise.topic)}\s+(.*)$", section, re.MULTILINE)
        assert match, f"no progress line for {exercise.id} in:\n{output}"
        lines[exercise.id] = match.group(1).strip()
    return lines


def test_untouched_stubs_are_reported_as_not_started_without_tracebacks(bundle):
    status, output = run_checks(bundle)
    assert status != 0, output
    lines = progress_lines(output)
    for exercise in EXERCISES:
        assert lines[exercise.id] == f"not started  -> open exercises/{exercise.filename}", output
    assert "0 of 5 done." in output
    assert "Next: ex1: open exercises/ex1_softmax.py" in output
    assert "python -m exercises.hints ex1" in output
    assert "Traceback" not in output and "NotImplementedError" not in output, output
    assert len(output.splitlines()) < 60, output
    assert re.search(r"\b\d+ not started\b", output.splitlines()[-1]), output


EXERCISE_FUNCTIONS = {
    "ex1_softmax": ("softmax_with_temperature",),
    "ex2_distillation": ("distillation_loss", "student_loss"),
    "ex3_layers": ("student_layer_indices", "halve_layers"),
    "ex4_masking": ("DynamicMasker.__init__", "DynamicMasker.__call__"),
    "ex5_params": ("count_parameters", "parameter_breakdown", "bert_parameter_count"),
}


def _function(package: str, module: str, name: str):
    target = import_module(f"{package}.{module}")
    for part in name.split("."):
        target = getattr(target, part)
    return target


def test_only_an_untouched_stub_is_called_early_by_the_checks():
    """``raise_if_not_started`` (a check skips building a model for a stub) fires for the stubs only."""
    for module, names in EXERCISE_FUNCTIONS.items():
        for name in names:
            stub = _function("exercises", module, name)
            assert is_untouched_stub(stub), f"exercises.{module}.{name} is not recognised as a stub"
            with pytest.raises(NotImplementedError, match=r"^ex\d: implement ") as raised:
                raise_if_not_started(stub)
            last_frame = traceback.extract_tb(raised.value.__traceback__)[-1]
            stub_file = REPO_ROOT / "exercises" / f"{module}.py"
            assert Path(last_frame.filename).resolve() == stub_file, last_frame
            solution = _function("solutions", module, name)
            assert not is_untouched_stub(solution), f"solutions.{module}.{name} taken for a stub"
            assert raise_if_not_started(solution) is None
    for started in (_started_with_a_print, _started_with_a_branch, _learner_placeholder):
        assert not is_untouched_stub(started), started.__name__
        raise_if_not_started(started)


def _started_with_a_print(teacher, layers=None):
    print(teacher)
    raise NotImplementedError("ex3: implement halve_layers")


def _started_with_a_branch(teacher, layers=None):
    if layers:
        return layers
    raise NotImplementedError("ex3: implement halve_layers")


def _learner_placeholder(teacher, layers=None):
    raise NotImplementedError("later")


def test_marker_selects_one_exercise(bundle):
    status, output = run_checks(bundle, "-m", "ex3", "-v")
    assert status != 0, output
    ran = re.findall(r"^exercises/(test_\w+)\.py::\w+", output, re.MULTILINE)
    assert ran and set(ran) == {"test_ex3_layers"}, output
    lines = progress_lines(output)
    assert lines["ex3"].startswith("not started"), output
    assert all(lines[ex.id] == "not checked in this run" for ex in EXERCISES if ex.id != "ex3"), output
    assert "0 of 5 done (4 not checked in this run)." in output
    assert output.split("your progress", 1)[1].splitlines()[-2].startswith("Next: ex3: open"), output


def test_independent_correct_implementations_pass_every_check(bundle):
    for filename in LEARNER_IMPLEMENTATIONS:
        write_implementation(bundle, filename)
    status, output = run_checks(bundle)
    assert status == 0, output
    assert set(progress_lines(output).values()) == {"done"}, output
    assert "5 of 5 done." in output
    assert "All 5 done. To hand in: python -m exercises.handin STUDENT_ID" in output
    assert re.search(r"\b\d+ passed\b", output.splitlines()[-1]) and "failed" not in output.splitlines()[-1]

    # One exercise checked alone: the others keep their last known state while their files are unchanged.
    (bundle / "exercises" / "ex5_params.py").write_text(
        (bundle / "exercises" / "ex5_params.py").read_text() + "\n# edited after the last check\n"
    )
    status, output = run_checks(bundle, "-m", "ex3")
    assert status == 0, output
    lines = progress_lines(output)
    assert lines["ex3"] == "done", output
    for exercise_id in ("ex1", "ex2", "ex4"):
        assert lines[exercise_id] == "done (when last checked)", output
    assert lines["ex5"] == "not checked in this run (changed since it was done)", output
    assert "4 of 5 done (1 not checked in this run)." in output
    assert output.split("your progress", 1)[1].splitlines()[-2] == "Next: check ex5: pytest exercises -m ex5"


def test_partly_done_work_shows_done_failing_and_not_started(bundle):
    write_implementation(bundle, "ex1_softmax.py")
    wrong = LEARNER_IMPLEMENTATIONS["ex2_distillation.py"].replace(*FORGOT_TEMPERATURE_SQUARED)
    assert wrong != LEARNER_IMPLEMENTATIONS["ex2_distillation.py"]
    write_implementation(bundle, "ex2_distillation.py", wrong)
    only_counting = LEARNER_IMPLEMENTATIONS["ex5_params.py"].split("        def parameter_breakdown")[0]
    write_implementation(bundle, "ex5_params.py", only_counting + STILL_STUBBED_EX5)
    status, output = run_checks(bundle)
    assert status != 0, output
    lines = progress_lines(output)
    assert lines["ex1"] == "done", output
    assert lines["ex2"].startswith("failing: "), output
    message = lines["ex2"].removeprefix("failing: ")
    assert len(message) > 10 and message.rstrip(".")[:40] in output.split("your progress")[0], output
    for exercise_id in ("ex3", "ex4"):
        assert lines[exercise_id].startswith("not started"), output
    assert lines["ex5"].startswith("in progress ("), output
    assert "still to write: parameter_breakdown, bert_parameter_count" in lines["ex5"], output
    assert "1 of 5 done." in output
    assert "Next: fix ex2 in exercises/ex2_distillation.py" in output
    assert "def check_tensor" not in output, "the comparison helper's source is shown in the failure report"


def test_a_syntax_error_in_one_exercise_does_not_stop_the_others(bundle):
    write_implementation(bundle, "ex1_softmax.py")
    (bundle / "exercises" / "ex4_masking.py").write_text("def broken(:\n    pass\n")
    status, output = run_checks(bundle)
    assert status != 0, output
    lines = progress_lines(output)
    assert lines["ex1"] == "done", output
    assert lines["ex4"].startswith("failing: its checks cannot import it: SyntaxError"), output
    assert lines["ex5"].startswith("not started"), output


def test_messages_use_the_real_folder_name(bundle):
    """The same plugin serves solutions/: paths and the hint command follow the folder's name."""
    (bundle / "exercises").rename(bundle / "solutions")
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "solutions", "-m", "ex2"],
        check=False,
        cwd=bundle,
        env=learner_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "not started  -> open solutions/ex2_distillation.py" in output
    assert "python -m solutions.hints ex2" in output
    assert "exercises/" not in output.split("your progress", 1)[1]


def test_plugin_table_and_bundle_markers_agree_with_the_layout():
    import solutions.support.progress as plugin

    assert plugin.EXERCISES == {ex.id: (ex.module, ex.topic) for ex in EXERCISES}
    project = tomllib.loads((BUNDLE_TEMPLATES_DIR / "pyproject.toml").read_text(encoding="utf-8"))
    markers = project["tool"]["pytest"]["ini_options"]["markers"]
    assert markers == [f"{ex.id}: {ex.topic}" for ex in EXERCISES]


@pytest.mark.parametrize("command", ["hints", "handin"])
def test_learner_commands_answer_help_and_name_the_choices_of_a_mistyped_argument(bundle, command):
    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", f"exercises.{command}", *args],
            check=False,
            cwd=bundle,
            env=learner_env(),
            capture_output=True,
            text=True,
            timeout=120,
        )

    helped = run("--help")
    assert helped.returncode == 0 and helped.stdout.startswith(f"usage: python -m exercises.{command}"), (
        helped
    )
    assert "Traceback" not in helped.stderr, helped
    if command == "hints":
        mistyped = run("ex9")
        assert mistyped.returncode == 2 and mistyped.stdout == "", mistyped
        assert mistyped.stderr.splitlines() == [
            "python -m exercises.hints: no exercise 'ex9'; choose one of ex1, ex2, ex3, ex4, ex5."
        ], mistyped
    if command == "handin":
        return  # its errors are the hand-in's own (tests/test_handin.py)
    unknown = run("--colour")
    assert unknown.returncode == 2 and len(unknown.stderr.splitlines()) == 1, unknown
    assert "unrecognized arguments: --colour" in unknown.stderr and "Traceback" not in unknown.stderr, unknown


def readme_commands() -> list[str]:
    """The commands of the bundle README's first code block, as a learner types them."""
    text = (BUNDLE_TEMPLATES_DIR / "README.md").read_text(encoding="utf-8")
    block = re.search(r"```bash\n(.*?)```", text, re.DOTALL)
    assert block, "the bundle README has no bash block"
    return [line.strip() for line in block.group(1).splitlines() if line.strip()]


def test_readme_installs_torch_for_the_cpu_first_then_the_exercises():
    commands = readme_commands()
    assert commands == [
        "pip install torch --index-url https://download.pytorch.org/whl/cpu",
        "pip install -e .",
        "pytest exercises",
    ], commands


@pytest.mark.slow
def test_readme_commands_as_written_work_in_a_fresh_venv(tmp_path):
    """Each command of the README in a fresh venv; pip gets the repository's constraint file (torch pinned
    to the local CPU build, as .ci/run installs it) in place of the PyTorch index this machine cannot reach.
    """
    bundle = build_bundle(tmp_path / "course")
    environment = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True, system_site_packages=False).create(environment)
    bin_dir = environment / "bin"
    env = {key: value for key, value in learner_env().items() if key != "VIRTUAL_ENV"}
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    env["VIRTUAL_ENV"] = str(environment)
    outputs = []
    for command in readme_commands():
        words = command.split()
        if words[:2] == ["pip", "install"]:
            if "--index-url" in words:
                at = words.index("--index-url")
                words = words[:at] + words[at + 2 :]
            words = [
                str(bin_dir / "python"),
                "-m",
                "pip",
                "install",
                "-q",
                "-c",
                str(CONSTRAINTS),
                *words[2:],
            ]
        else:
            words = [str(bin_dir / words[0]), *words[1:]]
        completed = subprocess.run(
            words, check=False, cwd=bundle, env=env, capture_output=True, text=True, timeout=1200
        )
        outputs.append((command, completed))
        if words[-1] != "exercises":
            assert completed.returncode == 0, (command, completed.stdout[-3000:], completed.stderr[-3000:])
    command, checks = outputs[-1]
    output = checks.stdout + checks.stderr
    assert checks.returncode == 1 and "0 of 5 done." in output, output
    assert "Next: ex1: open exercises/ex1_softmax.py" in output and "Traceback" not in output, output
    helped = subprocess.run(
        [str(bin_dir / "python"), "-m", "exercises.watch", "--help"],
        check=False,
        cwd=bundle,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert helped.returncode == 0 and helped.stdout.startswith("usage: python -m exercises.watch"), helped
