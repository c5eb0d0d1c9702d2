"""REST API v1 (`/api/v1/`): one module per resource, the same services and permission rule as the pages.

Kept empty on purpose: DRF imports the parser and exception-handler modules while `rest_framework.views` loads,
so nothing here may import DRF views. A resource module lists its `routes`; `urls.py` picks up every module that
has them, so adding a resource is one new file.
"""
