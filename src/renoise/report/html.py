"""Reports: the executed compare notebook rendered by nbconvert as HTML, with and without code.

The template lives in the project's ``templates/renoise`` folder (based on JupyterLab's). Both
files are written atomically.
"""

from __future__ import annotations

from pathlib import Path

from renoise import atomic

TEMPLATE = "renoise"
#: Where ``renoise compare`` executes its notebooks: ``runs/compare/<name>/paired.ipynb``.
COMPARISONS = "runs/compare"


def render(notebook: Path, output: Path, *, templates: Path, code: bool, title: str, source: str) -> Path:
    """Render ``notebook`` to ``output`` (HTML) titled ``title``, naming ``source`` in the footer;
    ``code=False`` drops every input cell and prompt."""
    import nbformat
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(template_name=TEMPLATE, extra_template_basedirs=[str(templates)])
    if not code:
        exporter.exclude_input = True
        exporter.exclude_input_prompt = True
        exporter.exclude_output_prompt = True
    body, _ = exporter.from_notebook_node(nbformat.read(notebook, as_version=4),
                                          resources={"metadata": {"name": title}, "renoise_source": source})
    atomic.write_text(output, body)
    return output


def write_reports(root: Path, experiment: str) -> tuple[Path, Path]:
    """Write ``reports/<experiment>/comparison.html`` (with code) and ``no_code/comparison.html``
    from the experiment's executed ``compare.ipynb``."""
    return _write_both(root, f"runs/{experiment}/compare/compare.ipynb", root / "reports" / experiment,
                       f"renoise {experiment}: comparison")


def write_comparison(root: Path, name: str) -> tuple[Path, Path]:
    """Write ``reports/compare/<name>/comparison.html`` and its ``no_code/`` twin from the executed
    ``paired.ipynb`` of ``renoise compare`` (:mod:`renoise.report.pairing`)."""
    return _write_both(root, f"{COMPARISONS}/{name}/paired.ipynb", root / "reports" / "compare" / name,
                       f"renoise compare {name}")


def _write_both(root: Path, source: str, report_dir: Path, title: str) -> tuple[Path, Path]:
    """``source`` (an executed notebook, relative to ``root``) rendered with and without code."""
    common = {"templates": root / "templates", "title": title, "source": source}
    with_code = render(root / source, report_dir / "comparison.html", code=True, **common)
    without = render(root / source, report_dir / "no_code" / "comparison.html", code=False, **common)
    return with_code, without
