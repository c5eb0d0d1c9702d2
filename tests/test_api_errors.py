"""The API answers its one error shape for every failure: bad JSON, deep JSON, unknown paths, methods, ids, crashes."""

import pytest
from django.test import RequestFactory
from django.urls import reverse

from allocator import urls
from allocator.api.errors import exception_handler
from tests.conftest import login

HUGE_ID = 2**64 + 1


def _assert_error_shape(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()["error"]
    assert body["code"] == code and body["message"]
    return body


def test_json_nested_1000_deep_is_a_400_parse_error(engineer, simulated):
    deep = "[" * 1000 + "]" * 1000
    response = login(engineer).post(reverse("api:key_request_list"), deep, content_type="application/json")
    body = _assert_error_shape(response, 400, "parse_error")
    assert "nested too deeply" in body["message"]


def test_json_objects_nested_deep_are_a_400_too(engineer, simulated):
    deep = '{"a":' * 3000 + "1" + "}" * 3000
    response = login(engineer).post(reverse("api:key_request_list"), deep, content_type="application/json")
    _assert_error_shape(response, 400, "parse_error")


def test_malformed_json_is_a_400_parse_error(engineer):
    response = login(engineer).post(reverse("api:key_request_list"), "{bad", content_type="application/json")
    _assert_error_shape(response, 400, "parse_error")


@pytest.mark.parametrize("action", ["approve", "reject"])
def test_ids_beyond_64_bits_are_a_404(manager, action):
    response = login(manager).post(f"/api/v1/key-requests/{HUGE_ID}/{action}/", {"reason": "x"})
    _assert_error_shape(response, 404, "not_found")


def test_unknown_api_paths_answer_json_404(engineer):
    _assert_error_shape(login(engineer).get("/api/v1/nothing-here/"), 404, "not_found")
    _assert_error_shape(login(engineer).get("/api/v1/key-requests/1/explode/"), 404, "not_found")


def test_unknown_api_paths_answer_json_404_to_anonymous_callers_too(client, db):
    _assert_error_shape(client.get("/api/v1/nothing-here/"), 404, "not_found")


def test_wrong_method_is_a_405_in_the_error_shape(engineer):
    _assert_error_shape(login(engineer).delete(reverse("api:key_list")), 405, "method_not_allowed")


def test_pages_outside_the_api_keep_the_html_404(engineer):
    response = login(engineer).get("/no-such-page/")
    assert response.status_code == 404 and response["Content-Type"].startswith("text/html")


def test_an_unexpected_exception_in_an_api_view_answers_the_error_shape(caplog):
    response = exception_handler(RuntimeError("boom"), {"view": None})
    assert response.status_code == 500
    assert response.data["error"]["code"] == "server_error"
    assert "boom" not in str(response.data)
    assert any(record.exc_info for record in caplog.records)


def test_a_crash_outside_the_views_answers_json_under_api_and_html_elsewhere(db):
    api = urls.server_error(RequestFactory().get("/api/keys/"))
    assert api.status_code == 500 and api["Content-Type"] == "application/json"
    page = urls.server_error(RequestFactory().get("/keys/"))
    assert page.status_code == 500 and page["Content-Type"].startswith("text/html")


def test_posts_to_unknown_api_paths_answer_json_404_not_the_csrf_page(db):
    from django.test import Client

    response = Client(enforce_csrf_checks=True).post("/api/v1/alerts/-5/retry/")
    _assert_error_shape(response, 404, "not_found")
    moved = Client(enforce_csrf_checks=True).post("/api/key-requests/")
    assert "/api/v1/" in _assert_error_shape(moved, 404, "not_found")["message"]
