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


def _good_catalog(path):
    pq.write_table(pa.table({"prompt": [f"prompt number {i} " * 4 for i in range(2000)]}), path,
                   compression="none", row_group_size=500)
    return path.read_bytes()


def test_a_bad_footer_length_is_a_corrupted_catalog(tmp_path):
    data = _good_catalog(tmp_path / "good.parquet")
    broken = tmp_path / "footer.parquet"
    broken.write_bytes(data[:-8] + (10**9).to_bytes(4, "little") + b"PAR1")
    with pytest.raises(CatalogError, match="is a corrupted Parquet file.*footer.*Write the catalog again"):
        inspect_catalog(str(broken))


def test_corrupted_pages_are_a_clear_error_naming_where(tmp_path):
    data = bytearray(_good_catalog(tmp_path / "good.parquet"))
    data[30_000:60_000] = bytes((b * 7 + 13) % 256 for b in data[30_000:60_000])  # inside the first row groups
    broken = tmp_path / "pages.parquet"
    broken.write_bytes(bytes(data))
    assert inspect_catalog(str(broken)).num_rows == 2000  # the footer is intact: only reading finds it
    with pytest.raises(CatalogError, match=r"corrupted Parquet file: rows from \d+ on cannot be read"):
        list(iter_rows(str(broken)))


def test_an_empty_file_and_a_folder_are_not_catalogs(tmp_path):
    (tmp_path / "empty.parquet").write_bytes(b"")
    with pytest.raises(CatalogError, match="is not a Parquet file"):
        inspect_catalog(str(tmp_path / "empty.parquet"))
    with pytest.raises(CatalogError, match="is a folder"):
        inspect_catalog(str(tmp_path))


def test_two_columns_with_one_name_are_refused_before_work(tmp_path):
    table = pa.Table.from_arrays([pa.array(["a"]), pa.array([1]), pa.array([2])], names=["prompt", "price", "price"])
    pq.write_table(table, tmp_path / "dup.parquet")
    with pytest.raises(CatalogError, match="more than one column named 'price'.*rename"):
        inspect_catalog(str(tmp_path / "dup.parquet"))


def test_columns_named_like_manifest_columns_pass_through_under_a_prefix(catalog_factory):
    info = inspect_catalog(catalog_factory([{"prompt": "x", "status": "new", "catalog_status": "old", "price": 1.0,
                                             "seed": 3}]))
    assert info.passthrough_names({"status", "key"}) == {
        "status": "catalog_catalog_status", "catalog_status": "catalog_status", "price": "price"}
