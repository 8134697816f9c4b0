"""What the checks run on, not what you write: the progress plugin of ``pytest exercises``
(``progress.py``), the comparison helpers of the checks (``checking.py``) and the known slips they name
(``diagnosis/``, one module per exercise). Nothing here needs editing."""
