"""Reports computed from the events, exactly, for any period, pinned to an asOfPosition.

`periods` cuts a window into UTC days, ISO weeks or calendar months; `tables` turns report rows
(dicts, nested ones flattened with a dot) into CSV and packs opaque page cursors; each report
(`movements`, ...) is one set-based SQL statement over the per-event delta columns. The HTTP
side (parameters, CSV or JSON, `X-As-Of-Position`, roles) is `api/reports.py`.
"""
