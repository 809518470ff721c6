"""Catalog reading: fails before any work on unusable files, streams rows in batches."""

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from fluxcat.catalog import CatalogError, inspect_catalog, iter_rows


def test_not_parquet_is_a_clear_error(tmp_path):
    path = tmp_path / "catalog.csv"
    path.write_text("prompt\na red mug\n")
    with pytest.raises(CatalogError, match="is not a Parquet file.*convert a CSV"):
        inspect_catalog(str(path))


def test_missing_prompt_column_names_the_fix(catalog_factory):
    url = catalog_factory([{"text": "a red mug"}])
    with pytest.raises(CatalogError, match="no 'prompt' column \\(columns: text\\).*rename"):
        inspect_catalog(url)


def test_missing_file(tmp_path):
    with pytest.raises(CatalogError, match="catalog not found"):
        inspect_catalog(str(tmp_path / "nope.parquet"))


def test_passthrough_columns_are_the_ones_fluxcat_does_not_read(catalog_factory):
    info = inspect_catalog(catalog_factory([{"prompt": "x", "id": "1", "price": 9.5, "seed": 3}]))
    assert [f.name for f in info.passthrough] == ["price"]


def test_rows_stream_in_batches_and_limit(tmp_path):
    path = tmp_path / "big.parquet"
    pq.write_table(pa.table({"prompt": [f"p{i}" for i in range(1000)]}), path, row_group_size=100)
    rows = list(iter_rows(str(path), batch_rows=64))
    assert [n for n, _ in rows] == list(range(1000))
    assert rows[999][1]["prompt"] == "p999"
    assert len(list(iter_rows(str(path), limit=10, batch_rows=64))) == 10


def test_memory_url(tmp_path):
    import fsspec

    fs = fsspec.filesystem("memory")
    with fs.open("/cat/c.parquet", "wb") as handle:
        pq.write_table(pa.table({"prompt": ["a", "b"]}), handle)
    assert inspect_catalog("memory://cat/c.parquet").num_rows == 2
    assert [r["prompt"] for _, r in iter_rows("memory://cat/c.parquet")] == ["a", "b"]
