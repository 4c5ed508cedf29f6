"""Reports: the executed compare notebook rendered by nbconvert as HTML, with and without code.

The template lives in the project's ``templates/renoise`` folder (based on JupyterLab's). Both
files are written atomically.
"""

from __future__ import annotations

from pathlib import Path

from renoise import atomic

TEMPLATE = "renoise"


def render(notebook: Path, output: Path, *, templates: Path, code: bool) -> Path:
    """Render ``notebook`` to ``output`` (HTML); ``code=False`` drops every input cell and prompt."""
    import nbformat
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(template_name=TEMPLATE, extra_template_basedirs=[str(templates)])
    if not code:
        exporter.exclude_input = True
        exporter.exclude_input_prompt = True
        exporter.exclude_output_prompt = True
    body, _ = exporter.from_notebook_node(nbformat.read(notebook, as_version=4),
                                          resources={"metadata": {"name": output.stem}})
    atomic.write_text(output, body)
    return output


def write_reports(run_dir: Path, report_dir: Path, templates: Path) -> tuple[Path, Path]:
    """Write ``comparison.html`` (with code) and ``no_code/comparison.html`` from ``run_dir``'s
    executed ``compare.ipynb``."""
    notebook = run_dir / "compare.ipynb"
    with_code = render(notebook, report_dir / "comparison.html", templates=templates, code=True)
    without = render(notebook, report_dir / "no_code" / "comparison.html", templates=templates, code=False)
    return with_code, without
