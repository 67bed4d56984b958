"""examples/quickstart.ipynb runs from top to bottom in a Jupyter kernel."""

from __future__ import annotations

from pathlib import Path

import pytest

NB = Path(__file__).resolve().parents[1] / "examples" / "quickstart.ipynb"


@pytest.mark.slow
def test_quickstart_notebook_executes():
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    nb = nbformat.read(NB, as_version=4)
    client = nbclient.NotebookClient(nb, timeout=180, kernel_name="python3",
                                     resources={"metadata": {"path": str(NB.parent)}})
    client.execute()  # raises CellExecutionError on the first failing cell
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.output_type == "error"]
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    # Chinchilla's fit on the 240 unmarked points, and its 70B/1.4T prediction with an interval
    line = next(ln for ln in text.splitlines() if ln.startswith("loss at 70B / 1.4T:"))
    value, lo, hi = (float(x) for x in line.split(":")[1].replace("[", "").replace("]", "")
                     .replace(",", "").split())
    assert lo < value < hi and 1.9 < value < 2.1
    assert "alpha = 0.3" in text and "report.html" in text
    pngs = [o for o in outputs if o.output_type in ("display_data", "execute_result")
            and "image/png" in o.get("data", {})]
    assert len(pngs) == 5  # forecast, optimal, residuals, bootstrap, isoflop
    htmls = [o["data"]["text/html"] for o in outputs if o.output_type == "execute_result"
             and "text/html" in o.get("data", {})]
    assert any("chinchilla" in h and "interval" in h for h in htmls)  # FitResult._repr_html_
