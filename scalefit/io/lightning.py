"""PyTorch Lightning CSVLogger: ``metrics.csv`` and ``hparams.yaml`` in one version folder."""

from __future__ import annotations

from pathlib import Path

from scalefit.errors import InputError
from scalefit.io.csvfile import read_csv_table
from scalefit.io.head import Head
from scalefit.io.reader import Options, Parsed
from scalefit.io.wide import wide_from_table


def sniff_layout(path: Path, head: Head) -> bool:
    """A version folder with ``metrics.csv``, or its ``metrics.csv`` or ``hparams.yaml``
    (each known by the other beside it)."""
    if head.is_dir:
        return (path / "metrics.csv").exists()
    return ((head.name == "hparams.yaml" and (path.parent / "metrics.csv").exists())
            or (head.name == "metrics.csv" and (path.parent / "hparams.yaml").exists()))


def read_lightning(path: Path, opts: Options, name: str) -> Parsed:
    """A CSVLogger version folder (or its ``metrics.csv`` or ``hparams.yaml``): the metrics
    as a run named ``opts.run``, ``<parent>/version_<k>`` or the folder's name, sizes from
    ``hparams.yaml``; an ``hparams.yaml`` that ``yaml.safe_load`` refuses is noted, not read."""
    import yaml

    file = path / "metrics.csv" if path.is_dir() else path
    if file.name == "hparams.yaml":
        file = file.parent / "metrics.csv"
    if not file.exists():
        raise InputError("no metrics.csv here", where=str(path))
    folder = file.parent
    run = opts.run or (f"{folder.parent.name}/{folder.name}" if folder.name.startswith("version_")
                       else folder.name)
    parsed = wide_from_table(read_csv_table(file, opts.delimiter), file, opts, run, "lightning")
    hp = folder / "hparams.yaml"
    if hp.exists():
        try:
            cfg = yaml.safe_load(hp.read_text(encoding="utf-8"))
        except (yaml.YAMLError, UnicodeDecodeError) as exc:
            # Lightning may write Python-object tags that safe_load refuses; the curves still count
            parsed.notes.append(f"{hp}: not read ({str(exc).splitlines()[0]})")
            cfg = None
        if isinstance(cfg, dict):
            for info in parsed.infos:
                info.from_config(cfg, "hparams.yaml")
    return parsed
