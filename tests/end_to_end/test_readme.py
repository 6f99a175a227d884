"""The README's "Use it from Python" block runs as written and gives every depth a usable accuracy."""

import os
import re

from conftest import REPO


def _python_block():
    readme = (REPO / "README.md").read_text()
    section = readme[readme.index("## Use it from Python"):]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_readme_python_block_runs_and_every_depth_learns(tmp_path, monkeypatch):
    code = _python_block()
    # The same calls; only the evaluation is shortened (training on fewer
    # digits would test another budget than the README's).
    short = code.replace('mnist("validation")', 'mnist("validation", num_examples=2_000)')
    assert short.count("2_000") == 1, "the README block changed: update this test"
    monkeypatch.chdir(tmp_path)
    namespace = {}
    exec(compile(short, "README.md", "exec"), namespace)
    results = namespace["model"].evaluate(
        __import__("ddnn_tf").data.mnist("validation", num_examples=2_000), return_dict=True, verbose=0
    )
    for depth in (8, 14, 20):
        assert results[f"acc_{depth}"] > 0.5, results  # chance is 0.1
    assert namespace["logits"].shape == (8, 10)
    assert os.path.exists(tmp_path / "ddnn.keras")


def test_the_readme_stays_a_guide_under_250_lines():
    lines = (REPO / "README.md").read_text().splitlines()
    assert len(lines) < 250, f"README.md has {len(lines)} lines: move detail into docs/"
