"""Dataset files and sources read as rows, lazily, each with where it was read ("data.jsonl line 3").

.jsonl, .json (an array of rows, an object of columns, or JSON lines), .csv (in chunks), .parquet (by record
batch), .arrow, a `datasets` `save_to_disk` folder, and a hub id (`org/name[:config][:split]`) through
`datasets.load_dataset`. Rows come out as plain dicts; `sources` makes examples of them.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from lab.common import first_line
from lab.errors import DataError


def jsonl_rows(path: Path) -> Iterator[tuple[Any, str]]:
    """The rows of a JSONL file, one a line (blank lines skipped); a line that is not JSON is one sentence."""
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, start=1):
            if not line.strip():
                continue
            where = f"{path.name} line {n}"
            try:
                yield json.loads(line), where
            except json.JSONDecodeError as e:
                raise DataError(f"{where}: not valid JSON ({e.msg} at column {e.colno})") from None


def _json_rows(path: Path) -> Iterator[tuple[Any, str]]:
    """A .json file: an array of rows, an object of columns (equal-length lists), or JSON lines."""
    text = path.read_text(encoding="utf-8")
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        if e.msg == "Extra data":  # one object per line: JSON lines under a .json name
            yield from jsonl_rows(path)
            return
        raise DataError(f"{path.name}: not valid JSON ({e.msg} at line {e.lineno} column {e.colno})") from None
    if isinstance(value, dict) and value and all(isinstance(v, list) for v in value.values()):
        lengths = {len(v) for v in value.values()}
        if len(lengths) > 1:
            raise DataError(f"{path.name}: an object of columns whose lists differ in length ({sorted(lengths)})")
        value = [dict(zip(value, cells)) for cells in zip(*value.values())]
    elif isinstance(value, dict):
        value = [value]
    if not isinstance(value, list):
        raise DataError(f"{path.name}: expected an array of rows or an object of columns, found {type(value).__name__}")
    for n, row in enumerate(value, start=1):
        yield row, f"{path.name} row {n}"


def _table_rows(path: Path) -> Iterator[tuple[Any, str]]:
    """CSV (in chunks) and Parquet (by record batch) rows, read without holding the file in memory."""
    if path.suffix.lower() == ".csv":
        import pandas as pd  # heavy (about half a second), and only tables need it

        chunks = pd.read_csv(path, keep_default_na=False, dtype=str, chunksize=4096)
        frames = (chunk.to_dict(orient="records") for chunk in chunks)
    else:
        import pyarrow.parquet as pq  # heavy, as above

        frames = (batch.to_pylist() for batch in pq.ParquetFile(path).iter_batches(batch_size=4096))
    n = 0
    for rows in frames:
        for row in rows:
            n += 1
            yield {k: v for k, v in row.items() if not _is_missing(v)}, f"{path.name} row {n}"


def _dataset_rows(dataset, name: str) -> Iterator[tuple[Any, str]]:
    for n, row in enumerate(dataset, start=1):
        yield {k: v for k, v in row.items() if not _is_missing(v)}, f"{name} row {n}"


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and value != value)


HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+(:[\w.-]+){0,2}$")  # org/name[:config]:split


def is_hub_id(text: str) -> bool:
    """Whether a source names a hub dataset (`org/name`, `org/name:split`, `org/name:config:split`)."""
    name = text.split(":")[0]
    return bool(HUB_ID.match(text)) and not Path(name).exists() and Path(name).suffix.lower() not in FILE_TYPES


def _hub_rows(text: str) -> Iterator[tuple[Any, str]]:
    """A hub dataset through `datasets.load_dataset` (its cache offline, streamed online)."""
    import datasets  # heavy, and only a hub id needs it

    name, *rest = text.split(":")
    config, split = (rest + [None])[:2] if len(rest) == 2 else (None, (rest or ["train"])[0])
    call = f"datasets.load_dataset('{name}'" + (f", '{config}'" if config else "") + f", split='{split}')"
    datasets.disable_progress_bars()
    try:
        dataset = datasets.load_dataset(name, config, split=split)
    except Exception as e:  # datasets raises many types (ConnectionError, FileNotFoundError, ValueError...)
        offline = os.environ.get("HF_HUB_OFFLINE", "") not in ("", "0") or datasets.config.HF_HUB_OFFLINE
        where = "not in the local hub cache, and the hub is off (HF_HUB_OFFLINE)" if offline else first_line(e)
        raise DataError(f"{text}: cannot load the hub dataset ({call}): {where}") from None
    yield from _dataset_rows(dataset, name)


def _disk_rows(path: Path) -> Iterator[tuple[Any, str]]:
    """A `datasets` `save_to_disk` folder (one split, or a DatasetDict's first-named 'train') or an .arrow file."""
    import datasets  # heavy, as above

    datasets.disable_progress_bars()
    if path.is_dir():
        loaded = datasets.load_from_disk(str(path))
        if isinstance(loaded, datasets.DatasetDict):
            split = "train" if "train" in loaded else next(iter(loaded))
            loaded = loaded[split]
    else:
        loaded = datasets.Dataset.from_file(str(path))
    yield from _dataset_rows(loaded, path.name)


FILE_TYPES = (".jsonl", ".json", ".csv", ".parquet", ".arrow")


def iter_rows(source: str | Path) -> Iterator[tuple[dict[str, Any], str]]:
    """Every row of a file, folder or hub dataset with where it was read, lazily. Raises DataError."""
    text = str(source)
    path = Path(source)
    if not path.exists() and is_hub_id(text):
        yield from _hub_rows(text)
        return
    if path.is_dir():
        if not (path / "dataset_info.json").is_file() and not (path / "dataset_dict.json").is_file():
            raise DataError(f"{path}: a folder, but not one `datasets` saved (no dataset_info.json)")
        reader = _disk_rows
    elif not path.is_file():
        raise DataError(f"no such file, folder or hub dataset: {path}")
    else:
        suffix = path.suffix.lower()
        readers = {".jsonl": jsonl_rows, ".json": _json_rows, ".csv": _table_rows, ".parquet": _table_rows}
        reader = readers.get(suffix, _disk_rows if suffix == ".arrow" else None)
        if reader is None:
            raise DataError(f"{path.name}: unknown file type '{suffix}'; use {', '.join(FILE_TYPES)}")
    try:
        yield from reader(path)
    except DataError:
        raise
    except UnicodeDecodeError:
        raise DataError(f"{path.name}: not UTF-8 text") from None
    except (ValueError, OSError) as e:  # pandas', pyarrow's and datasets' parse errors: one sentence
        kind = path.suffix[1:] or "a datasets folder"
        raise DataError(f"{path.name}: cannot be read as {kind} ({type(e).__name__}: {first_line(e)})") from None
