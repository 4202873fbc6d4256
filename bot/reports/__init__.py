"""Reports from the call archive: ``/report`` (figures and a chart), ``/export`` (a spreadsheet) and the digests."""
