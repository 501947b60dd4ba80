"""``python -m ecopark.validation``: the validation report (``ecopark/validation/report.py``)."""

import sys

from ecopark.validation.report import main

sys.exit(main())
