"""Streaming catalog reader: Parquet on any fsspec URL, checked before any work, read in record batches."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator

import fsspec
import pyarrow as pa
import pyarrow.parquet as pq

from fluxcat.plan import PLAN_COLUMNS

DEFAULT_BATCH_ROWS = 8192


class CatalogError(ValueError):
    """The catalog as a whole cannot be used; raised before any work starts."""


@dataclass(frozen=True)
class CatalogInfo:
    url: str
    num_rows: int
    schema: pa.Schema

    @property
    def passthrough(self) -> list[pa.Field]:
        """Catalog columns fluxcat does not read: copied to the manifest untouched."""
        return [f for f in self.schema if f.name not in PLAN_COLUMNS]


def inspect_catalog(url: str, storage_options: dict | None = None) -> CatalogInfo:
    """Open the catalog's footer only and check it can be planned; fail with the fix if not."""
    try:
        with fsspec.open(url, "rb", **(storage_options or {})) as handle:
            metadata = pq.ParquetFile(handle).metadata
            schema = metadata.schema.to_arrow_schema()
    except FileNotFoundError:
        raise CatalogError(f"catalog not found: {url}. Check the path or URL (local path, s3://, gs://, memory://).") from None
    except (pa.ArrowInvalid, OSError) as error:
        if "parquet" in str(error).lower() or "magic" in str(error).lower() or isinstance(error, pa.ArrowInvalid):
            raise CatalogError(
                f"{url} is not a Parquet file ({error}). fluxcat reads Parquet catalogs: convert a CSV with "
                "`python -c \"import pyarrow.csv as c, pyarrow.parquet as p; p.write_table(c.read_csv('in.csv'), 'out.parquet')\"`."
            ) from None
        raise
    if "prompt" not in schema.names:
        raise CatalogError(
            f"{url} has no 'prompt' column (columns: {', '.join(schema.names) or 'none'}). "
            "Every catalog needs a text column named 'prompt'; rename yours to 'prompt'."
        )
    return CatalogInfo(url=url, num_rows=metadata.num_rows, schema=schema)


def iter_rows(url: str, storage_options: dict | None = None, limit: int | None = None,
              batch_rows: int = DEFAULT_BATCH_ROWS) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield (row_number, row) in catalog order, holding one record batch in memory at a time."""
    row_number = 0
    with fsspec.open(url, "rb", **(storage_options or {})) as handle:
        for batch in pq.ParquetFile(handle).iter_batches(batch_size=batch_rows):
            for row in batch.to_pylist():
                if limit is not None and row_number >= limit:
                    return
                yield row_number, row
                row_number += 1
