"""Repository-wide pytest setup.

``pytest --nbval book/`` starts one Jupyter kernel per chapter from this process, so the kernels
inherit its environment. Give them the same seeded environment as scripts/refresh_notebooks.py,
which wrote the outputs they are compared with.
"""

import os

os.environ.setdefault("PYTHONHASHSEED", "0")
