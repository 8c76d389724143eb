# Sourced by .ci/run: the Python data tools that the README's table
# one-liners name (tests/tests/tables_load_in_pandas_polars_and_duckdb.rs
# runs them as written, so `python` must be on PATH). Pinned versions that
# install on Python 3.11 and later from PyPI wheels.
dataout_tools=("pandas==3.1.1" "polars==2.1.0" "duckdb==2.0.1" "pyarrow==26.0.1")
if ! command -v python >/dev/null 2>&1; then
  step "install python (apt)"
  (apt-get update -qq && apt-get install -y -qq python3 python3-pip python-is-python3 >/dev/null) \
    || sudo sh -c 'apt-get update -qq && apt-get install -y -qq python3 python3-pip python-is-python3 >/dev/null'
fi
if ! python -c 'import pandas, polars, duckdb, pyarrow' >/dev/null 2>&1; then
  step "pip install ${dataout_tools[*]}"
  python -m pip install --quiet --disable-pip-version-check "${dataout_tools[@]}" \
    || python -m pip install --quiet --disable-pip-version-check --break-system-packages "${dataout_tools[@]}"
fi
python -c 'import pandas, polars, duckdb, pyarrow; print("python data tools: pandas", pandas.__version__, "polars", polars.__version__, "duckdb", duckdb.__version__, "pyarrow", pyarrow.__version__)'
