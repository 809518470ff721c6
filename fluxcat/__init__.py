"""fluxcat: turn prompt catalogs into image catalogs with FLUX (Prefect-free core)."""

__version__ = "0.1.0"
