"""Page-number pagination: `?page=` and `?page_size=` (at most 500); the body says the count and the links."""

from rest_framework.pagination import PageNumberPagination


class Pages(PageNumberPagination):
    page_size_query_param = "page_size"
    max_page_size = 500
