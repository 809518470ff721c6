"""The `fluxcat` command line: run, plan (and more); imports flows lazily so --help is instant."""
