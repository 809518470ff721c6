"""Streaming catalog reader: Parquet on any fsspec URL, checked before any work, read in record batches."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator

import fsspec
import pyarrow as pa

from fluxcat.errors import UserError
from fluxcat.parquet_read import open_parquet, parquet_batches
from fluxcat.plan import PLAN_COLUMNS

DEFAULT_BATCH_ROWS = 8192
# A catalog column named like a manifest column passes through under this prefix (repeated until unique).
PASSTHROUGH_PREFIX = "catalog_"
PARQUET_MAGIC = b"PAR1"
CSV_HINT = ("fluxcat reads Parquet catalogs: convert a CSV with `python -c \"import pyarrow.csv as c, pyarrow.parquet as p; "
            "p.write_table(c.read_csv('in.csv'), 'out.parquet')\"`.")


class CatalogError(UserError):
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

    def passthrough_names(self, reserved: frozenset[str] | set[str]) -> dict[str, str]:
        """Catalog column -> its manifest column, for every column fluxcat does not read: the same name,
        or under PASSTHROUGH_PREFIX where the manifest already has a column of that name."""
        taken = set(reserved) | set(self.schema.names)
        names = {}
        for field in self.passthrough:
            name = field.name
            if name in reserved:
                while name in taken:
                    name = PASSTHROUGH_PREFIX + name
                taken.add(name)
            names[field.name] = name
        return names


def inspect_catalog(url: str, storage_options: dict | None = None) -> CatalogInfo:
    """Open the catalog's footer only and check it can be planned; fail with the fix if not."""
    try:
        with fsspec.open(url, "rb", **(storage_options or {})) as handle:
            head = handle.read(len(PARQUET_MAGIC))
            handle.seek(0)
            metadata = open_parquet(handle).metadata
            schema = metadata.schema.to_arrow_schema()
    except FileNotFoundError:
        raise CatalogError(f"catalog not found: {url}. Check the path or URL (local path, s3://, gs://, memory://).") from None
    except IsADirectoryError:
        raise CatalogError(f"{url} is a folder: give the path of one Parquet file.") from None
    except (ConnectionError, TimeoutError) as error:
        raise CatalogError(f"could not read {url} ({type(error).__name__}: {error}): check the URL, the network "
                           "and the storage options.") from None
    except (pa.ArrowException, OSError) as error:
        if head != PARQUET_MAGIC:
            raise CatalogError(f"{url} is not a Parquet file ({error}). {CSV_HINT}") from None
        raise CatalogError(f"{url} is a corrupted Parquet file ({error}): its footer cannot be read. "
                           "Write the catalog again from its source.") from None
    _check_columns(url, schema)
    return CatalogInfo(url=url, num_rows=metadata.num_rows, schema=schema)


def _check_columns(url: str, schema: pa.Schema) -> None:
    if "prompt" not in schema.names:
        raise CatalogError(
            f"{url} has no 'prompt' column (columns: {', '.join(schema.names) or 'none'}). "
            "Every catalog needs a text column named 'prompt'; rename yours to 'prompt'."
        )
    repeated = sorted({name for name in schema.names if schema.names.count(name) > 1})
    if repeated:  # rows become dicts: one of the two values would be lost without a word
        raise CatalogError(f"{url} has more than one column named {', '.join(map(repr, repeated))}: "
                           "rename them so that every column name is unique.")


def iter_rows(url: str, storage_options: dict | None = None, limit: int | None = None,
              batch_rows: int = DEFAULT_BATCH_ROWS) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield (row_number, row) in catalog order, holding one record batch in memory at a time."""
    row_number = 0
    with fsspec.open(url, "rb", **(storage_options or {})) as handle:
        for rows in _row_batches(url, handle, batch_rows, lambda: row_number):
            for row in rows:
                if limit is not None and row_number >= limit:
                    return
                yield row_number, row
                row_number += 1


def _row_batches(url: str, handle, batch_rows: int, position) -> Iterator[list[dict[str, Any]]]:
    """Record batches as rows; a page that cannot be decoded ends the read with where it happened."""
    batches = parquet_batches(handle, batch_size=batch_rows)
    while True:
        try:
            batch = next(batches, None)
            if batch is None:
                return
            rows = batch.to_pylist()
        except (ConnectionError, TimeoutError):
            raise  # the network, not the file: a retry may succeed
        except (pa.ArrowException, OSError, UnicodeDecodeError) as error:
            raise CatalogError(f"{url} is a corrupted Parquet file: rows from {position()} on cannot be read "
                               f"({type(error).__name__}: {error}). Write the catalog again from its source.") from None
        yield rows
